"""sl.discover: known answers (exact functions), calibration against null models, report helpers, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symlie as sl
from symlie._discover import DiscoveryReport, discover

J2 = np.array([[0.0, -1.0], [1.0, 0.0]])


def o5_task(X):
    x1, x2 = X[:, :5], X[:, 5:]
    n1, n2 = np.sqrt((x1**2).sum(1)), np.sqrt((x2**2).sum(1))
    return np.sin(n1) - n2**3 / 2 + (x1 * x2).sum(1) / (n1 * n2)


def lorenz(x):
    return np.stack(
        [10 * (x[:, 1] - x[:, 0]), x[:, 0] * (28 - x[:, 2]) - x[:, 1], x[:, 0] * x[:, 1] - 8 / 3 * x[:, 2]], 1
    )


C = np.array([0.7, -0.3])
W3 = np.random.default_rng(5).normal(size=(20, 3))
CASES = {
    "norm-R10-gl10": (lambda x: (x**2).sum(1), sl.gl(10), 10, "invariant", 45),
    "minkowski-gl4": (lambda x: x[:, 0] ** 2 - (x[:, 1:] ** 2).sum(1), sl.gl(4), 4, "invariant", 6),
    "o5-block-gl5": (o5_task, sl.gl(5).copies(2), 10, "invariant", 10),
    "o5-gl10": (o5_task, sl.gl(10), 10, "invariant", 10),
    "xy-gl2": (lambda x: x[:, 0] * x[:, 1], sl.gl(2), 2, "invariant", 1),
    "so2+so3-gl5": (lambda x: (x[:, :2] ** 2).sum(1) + np.tanh((x[:, 2:] ** 2).sum(1)), sl.gl(5), 5, "invariant", 4),
    "shifted-norm-gl2": (lambda x: ((x - C) ** 2).sum(1), sl.gl(2), 2, "invariant", 0),
    "shifted-norm-aff2": (lambda x: ((x - C) ** 2).sum(1), sl.aff(2), 2, "invariant", 1),
    "norm-R2-poly1": (lambda x: (x**2).sum(1), sl.polynomial_fields(2, 1), 2, "invariant", 1),
    "norm-R2-poly2": (lambda x: (x**2).sum(1), sl.polynomial_fields(2, 2), 2, "invariant", 3),
    "norm-R2-poly3": (lambda x: (x**2).sum(1), sl.polynomial_fields(2, 3), 2, "invariant", 6),
    "lorenz-gl3": (lorenz, sl.gl(3), 3, "vector_field", 0),
    "lorenz-aff3": (lorenz, sl.aff(3), 3, "vector_field", 0),
    "hopf-gl2": (lambda x: (0.5 - (x**2).sum(1))[:, None] * x + 2 * x @ J2.T, sl.gl(2), 2, "vector_field", 1),
    "oscillator-gl2": (lambda x: x @ J2.T, sl.gl(2), 2, "vector_field", 2),
    "random-features-gl3": (lambda x: np.sin(x @ W3.T).sum(1), sl.gl(3), 3, "invariant", 0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_known_answers(case, rng):
    f, algebra, n, output, expected = CASES[case]
    rep = discover(f, algebra, rng.normal(size=(120, n)), output)
    assert rep.dim == expected
    assert rep.generators.shape == (expected, *algebra.basis.shape[1:])
    assert rep.residual.max(initial=0.0) <= 1e-12
    assert rep.margin_decades >= 2  # a clean gap without any null model
    assert rep.singular_values[0] == 1.0 and np.all(np.diff(rep.singular_values) <= 0)


def test_known_subalgebras_and_closure(rng):
    rep = discover(CASES["o5-block-gl5"][0], sl.gl(5).copies(2), rng.normal(size=(100, 10)))
    assert rep.principal_cosines(sl.so(5)).min() > 1 - 1e-10  # so(5) applied to both vectors
    assert rep.closed and rep.structure_constants.shape == (10, 10, 10)
    hopf = discover(CASES["hopf-gl2"][0], sl.gl(2), rng.normal(size=(50, 2)), "vector_field")
    assert abs(hopf.principal_cosines(sl.so(2))[0] - 1) < 1e-12
    xy = discover(lambda x: x[:, 0] * x[:, 1], sl.gl(2), rng.normal(size=(50, 2)))
    g = xy.generators[0] / xy.generators[0, 0, 0]
    np.testing.assert_allclose(g, np.diag([1.0, -1.0]), atol=1e-12)


@pytest.mark.parametrize("degree, closed", [(1, True), (2, False), (3, False)])
def test_polynomial_fields_close_only_modulo_degree(degree, closed, rng):
    rep = discover(lambda x: (x**2).sum(1), sl.polynomial_fields(2, degree), rng.normal(size=(80, 2)))
    assert rep.closed is closed
    assert rep.closed_modulo_degree and rep.closure_residual_mod_degree < 1e-10


def test_invariant_forms_read_off_the_minkowski_metric(rng):
    rep = discover(CASES["minkowski-gl4"][0], sl.gl(4), rng.normal(size=(80, 4)))
    forms = rep.invariant_forms()
    assert forms.shape == (1, 4, 4)
    np.testing.assert_allclose(forms[0] / forms[0, 0, 0], np.diag([1.0, -1, -1, -1]), atol=1e-10)


def test_polynomial_model_uses_the_exact_route(rng):
    lib = sl.PolynomialLibrary(3, 2)
    w = np.zeros(len(lib))
    w[lib.index([[2, 0, 0], [0, 2, 0], [0, 0, 2]])] = 1.0
    rep = discover((lib, w), sl.gl(3), rng.normal(size=(30, 3)))
    assert rep.dim == 3 and rep.method.startswith("exact") and rep.residual.max() < 1e-14


def test_finite_differences_have_an_error_estimate(rng):
    rep = discover(lambda x: np.linalg.norm(x, axis=1) ** 2, sl.gl(3), rng.normal(size=(60, 3)))
    assert rep.method.startswith("central differences")  # norm() is not complex-analytic
    assert rep.dim == 3 and rep.residual.max() < 1e-9


@settings(max_examples=10)
@given(scale=st.floats(0.01, 100.0), seed=st.integers(0, 100))
def test_dimension_does_not_depend_on_scales(scale, seed):
    X = np.random.default_rng(seed).normal(size=(40, 3))
    rep = discover(lambda x: scale * (x[:, :2] ** 2).sum(1) + x[:, 2], sl.gl(3), scale * X)
    assert rep.dim == 1  # so(2) on (x0, x1): A x must keep x2 and |x_{0:2}|, at every scale of f and X
    assert rep.residual.max() < 1e-10 and rep.principal_cosines(sl.so(2).direct_sum(sl.gl(1)))[0] > 0.99


# ---------------------------------------------------------------------------------------------- torch
torch = pytest.importorskip("torch")


def _mlp(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(10, 32), torch.nn.SiLU(), torch.nn.Linear(32, 32), torch.nn.SiLU(), torch.nn.Linear(32, 1)
    )


def test_torch_function_autodiff(rng):
    rep = discover(lambda x: (x**2).sum(-1), sl.gl(4), rng.normal(size=(60, 4)), derivative="autodiff")
    assert rep.dim == 6 and rep.method.startswith("autodiff") and rep.residual.max() < 1e-12


def test_untrained_mlp_is_a_negative_control(rng):
    X = rng.normal(size=(1500, 10))
    net = _mlp(3)
    state = torch.random.get_rng_state()
    gap = discover(net, sl.gl(5).copies(2), X, null=None)
    calibrated = discover(net, sl.gl(5).copies(2), X)
    assert gap.dim == 0  # the noise floor alone does not invent symmetries either
    assert calibrated.dim == 0 and calibrated.null_spectra.shape == (5, 25)
    assert "null" in calibrated.threshold_rule and 0 <= calibrated.bootstrap_frequency <= 1
    assert torch.equal(state, torch.random.get_rng_state())  # no global torch RNG use


def test_null_rule_finds_an_approximate_symmetry(rng):
    X = rng.normal(size=(800, 3))
    eps = 1e-4
    nulls = [lambda x, W=W: np.sin(x @ W.T).sum(1) for W in np.random.default_rng(1).normal(size=(5, 20, 3))]
    rep = discover(lambda x: (x[:, :2] ** 2).sum(1) + eps * x[:, 0] ** 3 + x[:, 2], sl.gl(3), X, null=nulls)
    assert rep.dim == 1 and rep.margin_decades > 0.3  # an approximate rotation, clearly below the nulls
    assert 1e-6 < rep.residual[0] < 1e-3 and rep.principal_cosines(sl.so(2).direct_sum(sl.gl(1)))[0] > 0.999
    assert discover(lambda x: (x[:, :2] ** 2).sum(1) + eps * x[:, 0] ** 3 + x[:, 2], sl.gl(3), X, null=None).dim == 0


# ----------------------------------------------------------------------------------- report helpers
def test_report_repr_summary_rich_and_plot(rng):
    rep = discover(lambda x: (x**2).sum(1), sl.gl(2), rng.normal(size=(30, 2)))
    assert isinstance(rep, DiscoveryReport)
    assert repr(rep).startswith("DiscoveryReport(dim=1 of q=4 in gl(2)")
    assert "dimension: 1 of 4" in rep.summary()
    from rich.console import Console

    console = Console(record=True, width=120)
    console.print(rep)
    assert "symlie.discover" in console.export_text()
    import matplotlib

    matplotlib.use("Agg")
    ax = rep.plot_spectrum()
    assert ax.get_ylabel() == "singular value / largest"
    import matplotlib.pyplot as plt

    plt.close("all")


# -------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"algebra": "gl3"}, sl.SymlieTypeError, "algebra must be a LieAlgebra"),
        ({"X": np.zeros((5, 4))}, sl.ShapeError, "X must have shape"),
        ({"X": np.zeros((0, 3))}, sl.ShapeError, "X must contain"),
        ({"f": 3.0}, sl.SymlieTypeError, "f must be"),
        ({"output": "sideways"}, sl.SymlieValueError, "output must be"),
        ({"factor": 0.5}, sl.SymlieValueError, "factor must be"),
        ({"holdout": 1.5}, sl.SymlieValueError, "holdout must be"),
        ({"null": "init"}, sl.SymlieTypeError, "null='init'"),
        ({"null": "sometimes"}, sl.SymlieValueError, "null must be"),
        ({"derivative": "magic"}, sl.SymlieValueError, "derivative must be"),
        ({"precision": "half"}, sl.SymlieValueError, "precision must be"),
        ({"output": "vector_field"}, sl.ShapeError, "outputs"),
    ],
)
def test_bad_input_names_the_argument(kwargs, error, match, rng):
    args = {"f": lambda x: (x**2).sum(1), "algebra": sl.gl(3), "X": rng.normal(size=(10, 3))}
    args.update(kwargs)
    f, algebra, X = args.pop("f"), args.pop("algebra"), args.pop("X")
    with pytest.raises(error, match=match):
        discover(f, algebra, X, **args)
