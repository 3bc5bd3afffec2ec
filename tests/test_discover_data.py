"""Fast Lie-matrix contraction, Gram/bootstrap and null-model shortcuts, fit-then-discover, calibrated tangent route."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symlie as sl
from symlie._action import make_action
from symlie._calibrate import block_grams, bootstrap_frequency, decide, make_null_models, spectrum, stack_rows
from symlie._derivatives import as_model, lie_matrix
from symlie._discover import _null_spectra, discover
from symlie._fit_discover import FittedPolynomial, discover_from_data
from symlie._manifold import discover_manifold

torch = pytest.importorskip("torch")


def _mlp(seed, n_in=4, n_out=1, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(n_in, 16), torch.nn.SiLU(), torch.nn.Linear(16, n_out)).to(dtype)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=dtype))
    return net


def _reference(model, action, X):
    """Slow, obviously correct Lie matrix: Jacobian times the sampled fields, minus B F."""
    J, _ = model.jacobian(X)
    V = action.vector_fields(X)  # (q, N, m)
    M = np.einsum("noi,kni->nok", J, V)
    B = action.output_matrices(X)
    if B is not None:
        M = M - np.einsum("knab,nb->nak", B, model.value(X))
    return M.reshape(-1, action.n_generators)


RANDOM_SUBSPACE = sl.LieAlgebra(np.random.default_rng(3).normal(size=(5, 4, 4)), require_closure=False)
CONTRACTIONS = {
    "block-gl2-sparse": (sl.gl(2).copies(2), "invariant", 1),
    "dense-subspace": (RANDOM_SUBSPACE, "invariant", 1),
    "affine": (sl.aff(4), "invariant", 1),
    "polynomial-fields": (sl.polynomial_fields(4, 2), "invariant", 1),
    "two-outputs": (sl.gl(4), "invariant", 2),
    "vector-field": (sl.gl(4), "vector_field", 4),
}


@pytest.mark.parametrize("case", list(CONTRACTIONS))
@pytest.mark.parametrize("kind", ["torch", "numpy"])
def test_lie_matrix_matches_the_slow_reference(case, kind, rng):
    algebra, output, n_out = CONTRACTIONS[case]
    X = rng.normal(size=(50, 4))
    W = rng.normal(size=(4, n_out))
    f = _mlp(1, n_out=n_out) if kind == "torch" else (lambda x: np.tanh(x @ W) + (x**2).sum(1, keepdims=True))
    model = as_model(f, 4, X)
    n = model.n_outputs if output == "invariant" else None
    action = make_action(algebra.orthonormalize(), output, n_features=4, n_outputs=n)
    M, err = lie_matrix(model, action, X, chunk_size=17)  # several chunks
    np.testing.assert_allclose(M, _reference(model, action, X), rtol=1e-10, atol=1e-10)
    assert M.shape == (50 * n_out, algebra.dim) and err >= 0


def test_float32_models_get_a_float32_matrix_with_float32_accuracy(rng):
    X = rng.normal(size=(40, 4))
    net = _mlp(2, dtype=torch.float32)
    action = make_action(sl.gl(4).orthonormalize(), "invariant", n_features=4, n_outputs=1)
    M32, _ = lie_matrix(as_model(net, 4, X, precision="model"), action, X)
    M64, _ = lie_matrix(as_model(net, 4, X, precision="float64"), action, X)
    assert M32.dtype == np.float32 and M64.dtype == np.float64
    assert np.abs(M32 - M64).max() < 1e-4 * np.abs(M64).max()


def test_block_grams_sum_to_the_gram_and_bootstrap_is_consistent(rng):
    M = rng.normal(size=(3 * 200, 6)) * np.array([1, 1, 1, 1, 1e-3, 1e-3])
    grams = block_grams(M, 3, n_blocks=7)
    assert grams.shape == (7, 6, 6)
    np.testing.assert_allclose(grams.sum(0), M.T @ M, rtol=1e-12)
    s, _ = spectrum(M)
    decision = decide(s / s[0], noise_floor=1e-2)
    assert decision.dim == 2
    fast = bootstrap_frequency(M, 3, decision, np.random.default_rng(0), grams=grams)
    slow = bootstrap_frequency(M, 3, decision, np.random.default_rng(0))
    assert fast == slow == 1.0


@settings(max_examples=25)
@given(
    n_points=st.integers(1, 60),
    n_out=st.integers(1, 3),
    q=st.integers(1, 5),
    n_blocks=st.integers(1, 40),
    seed=st.integers(0, 10**6),
)
def test_block_grams_always_partition_the_points(n_points, n_out, q, n_blocks, seed):
    M = np.random.default_rng(seed).normal(size=(n_points * n_out, q))
    grams = block_grams(np.asfortranarray(M), n_out, n_blocks=n_blocks)
    assert len(grams) == min(n_blocks, n_points)
    np.testing.assert_allclose(grams.sum(0), M.T @ M, rtol=1e-12, atol=1e-12)


def test_reinitialised_nulls_are_deterministic_and_leave_f_and_the_rng_alone(rng):
    net = _mlp(4, dtype=torch.float32)
    before = [p.detach().clone() for p in net.parameters()]
    state = torch.random.get_rng_state()
    a, _ = make_null_models(net, "init", n_null=3, seed=7)
    b, _ = make_null_models(net, "init", n_null=3, seed=7)
    x = torch.tensor(rng.normal(size=(5, 4)), dtype=torch.float32)
    outs = [m(x) for m in a]
    assert all(torch.equal(o, m(x)) for o, m in zip(outs, b, strict=True))
    assert not torch.allclose(outs[0], outs[1]) and not torch.allclose(outs[0], net(x))
    assert all(torch.equal(p, q) for p, q in zip(before, net.parameters(), strict=True))
    assert torch.equal(state, torch.random.get_rng_state())


def test_stacked_null_models_give_the_per_model_spectra(rng):
    X = rng.normal(size=(64, 4))
    nulls = [_mlp(s) for s in range(3)]
    candidate = sl.gl(4).orthonormalize()
    action = make_action(candidate, "invariant", n_features=4, n_outputs=1)
    from symlie._derivatives import field_plan

    stacked = _null_spectra(nulls, action, candidate, "invariant", X, field_plan(action), "auto", 1000, "float64")
    single = [spectrum(lie_matrix(as_model(g, 4, X), action, X)[0])[0] for g in nulls]
    np.testing.assert_allclose(stacked, [s / s[0] for s in single], rtol=1e-8)
    y = stack_rows(nulls)(torch.tensor(np.tile(X, (3, 1))))
    assert y.shape == (3 * 64, 1)


def test_exactly_invariant_float32_module_is_resolved_in_float64(rng):
    class Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.tensor(1.5, dtype=torch.float32))

        def forward(self, x):
            return self.w * (x**2).sum(-1)

    rep = discover(Scaled(), sl.gl(3), rng.normal(size=(300, 3)), null=None, precision="model")
    assert rep.dim == 3 and rep.principal_cosines(sl.so(3)).min() > 0.999


# ------------------------------------------------------------------------------------- fit then discover
def test_polynomial_fit_then_discover_finds_so3_through_noise(rng):
    X = rng.normal(size=(300, 3))
    y = (X**2).sum(1) + 0.01 * rng.normal(size=300)
    rep = discover_from_data(X, y, sl.gl(3), degree=2)
    assert rep.dim == 3 and rep.principal_cosines(sl.so(3)).min() > 0.999
    assert isinstance(rep.model, FittedPolynomial) and rep.null_spectra.shape == (5, 9)
    assert np.sqrt(np.mean((rep.model.predict(X)[:, 0] - y) ** 2)) < 0.02
    assert rep.method.startswith("exact") and rep.margin_decades > 0.5
    exact = discover_from_data(X, (X**2).sum(1), sl.gl(3))
    assert exact.dim == 3 and exact.residual.max() < 1e-10
    control = discover_from_data(X, np.sin(X @ rng.normal(size=(3, 4))).sum(1), sl.gl(3), degree=3)
    assert control.dim == 0


def test_mlp_fit_then_discover(rng):
    X = rng.normal(size=(400, 3))
    y = (X**2).sum(1) + 0.01 * rng.normal(size=400)
    rep = discover_from_data(X, y, sl.gl(3), model="mlp", epochs=200, n_null=2)
    assert rep.dim == 3 and rep.principal_cosines(sl.so(3)).min() > 0.99
    assert isinstance(rep.model, torch.nn.Module) and rep.null_spectra.shape == (2, 9)
    # 20 random features: far from symmetric (5 can be nearly symmetric at the data scale; check with discover)
    target = np.sin(X @ np.random.default_rng(5).normal(size=(3, 20))).sum(1)
    assert discover(lambda x: np.sin(x @ np.random.default_rng(5).normal(size=(3, 20))).sum(1), sl.gl(3), X).dim == 0
    control = discover_from_data(X, target, sl.gl(3), model="mlp", epochs=200, n_null=2)
    assert control.dim == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"model": "forest"}, sl.SymlieValueError, "model must be"),
        ({"null": "init"}, sl.SymlieValueError, "null='init'"),
        ({"null": "sometimes"}, sl.SymlieValueError, "null must be"),
        ({"alpha": -1.0}, sl.SymlieValueError, "alpha"),
        ({"degree": 0}, sl.SymlieValueError, "degree"),
    ],
)
def test_fit_then_discover_bad_input_names_the_argument(kwargs, error, match, rng):
    X = rng.normal(size=(30, 2))
    with pytest.raises(error, match=match):
        discover_from_data(X, (X**2).sum(1), sl.gl(2), **kwargs)
    with pytest.raises(sl.ShapeError, match="y must have one row"):
        discover_from_data(X, np.ones(29), sl.gl(2))


# ---------------------------------------------------------------------------- calibrated tangent route
def _sphere(rng, n=300, noise=0.0):
    Y = rng.normal(size=(n, 3))
    return Y / np.linalg.norm(Y, axis=1, keepdims=True) + noise * rng.normal(size=(n, 3))


def test_tangent_bar_is_calibrated_between_noise_floor_and_random_level(rng):
    rep = discover_manifold(_sphere(rng), sl.gl(3), method="tangent")
    assert rep.dim == 3 and "calibrated bar" in rep.threshold_rule
    rho = rep.singular_values  # relative normal residuals, decreasing
    assert rho[-3:].max() < rep.threshold < rho[-4] and rep.residual.max() < rep.threshold
    noisy = discover_manifold(_sphere(rng, noise=0.02), sl.gl(3), method="tangent")
    assert noisy.dim == 3 and noisy.principal_cosines(sl.so(3)).min() > 0.99
    z, t = rng.uniform(-1, 1, 400), rng.uniform(0, 2 * np.pi, 400)  # cylinder: so(2), z-translation, z-scaling,
    cylinder = discover_manifold(np.c_[np.cos(t), np.sin(t), z], sl.aff(3), method="tangent")  # two z-shears
    assert cylinder.dim == 5
    assert discover_manifold(_sphere(rng), sl.gl(3), method="tangent", rtol=1e-3).dim == 0  # a fixed bar


def test_tangent_route_warns_when_it_cannot_separate(rng):
    with pytest.warns(sl.SpectralGapWarning, match="cannot separate"):
        discover_manifold(_sphere(rng, noise=0.3), sl.gl(3), method="tangent")
