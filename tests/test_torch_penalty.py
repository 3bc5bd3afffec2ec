"""Lie derivatives of networks, the symmetry-promoting penalty and promote-then-enforce."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import symlie as sl  # noqa: E402
from symlie.torch import (  # noqa: E402
    EMLP,
    SymmetryPenalty,
    enforce_discovered,
    equivariance_error,
    lie_derivative,
    lie_derivative_matrix,
)
from symlie.torch._discover import discover_subalgebra  # noqa: E402

F64 = torch.float64


def _points(n, m, seed=0):
    return torch.randn(n, m, dtype=F64, generator=torch.Generator().manual_seed(seed))


def test_lie_derivative_matches_finite_differences_of_the_flow(rng):
    """(L_k f)(x) = d/dt [rho_out(exp(-t A)) f(exp(t A) x)] at t = 0, for an equivariant output action."""
    from scipy.linalg import expm

    G = sl.SO(3)
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)).double()
    rep_in, rep_out = 2 * sl.V(G), sl.V(G)
    X = _points(5, 6)
    L = lie_derivative(net, G.algebra, X, input_action=rep_in, output_action=rep_out)
    assert L.shape == (3, 5, 3)
    eps = 1e-6
    for k, A in enumerate(G.algebra.basis):
        moved = []
        for t in (eps, -eps):
            g = expm(t * A)
            Xg = X @ torch.tensor(rep_in.rho(g)).T
            moved.append(net(Xg) @ torch.tensor(np.linalg.inv(rep_out.rho(g))).T)
        fd = (moved[0] - moved[1]) / (2 * eps)
        np.testing.assert_allclose(L[k].detach().numpy(), fd.detach().numpy(), atol=1e-7)


def test_chunking_and_vectorization_do_not_change_the_result():
    G = sl.O(3)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
    X = _points(10, 6)
    options = {"input_action": 2 * sl.V(G), "output_action": sl.V(G)}
    full = lie_derivative(model, G.algebra, X, **options)
    chunked = lie_derivative(model, G.algebra, X, chunk_size=3, vectorize=False, **options)
    np.testing.assert_allclose(chunked.detach().numpy(), full.detach().numpy(), atol=1e-14)


def test_affine_and_polynomial_actions():
    f = lambda x: x[:, :1] ** 2 + x[:, 1:2]  # noqa: E731
    X = _points(4, 2)
    L = lie_derivative(f, sl.t(2), X)  # translations: the gradient
    np.testing.assert_allclose(L[:, :, 0].T.numpy(), np.stack([2 * X[:, 0].numpy(), np.ones(4)], axis=1))
    fields = sl.polynomial_fields(2, 1)
    L2 = lie_derivative(f, fields, X, vectorize=False)
    assert L2.shape == (fields.dim, 4, 1)
    v = fields.vector_fields(X.numpy())  # (q, N, 2)
    grad = np.stack([2 * X[:, 0].numpy(), np.ones(4)], axis=1)
    np.testing.assert_allclose(L2[:, :, 0].numpy(), np.einsum("kni,ni->kn", v, grad), atol=1e-12)


def test_vector_field_output_action_gives_the_bracket():
    """For F(x) = B x and linear generators A, [A x, B x] = (B A - A B) x."""
    B = torch.tensor([[1.0, 2.0], [0.0, -1.0]], dtype=F64)
    F = lambda x: x @ B.T  # noqa: E731
    X = _points(3, 2)
    L = lie_derivative(F, sl.gl(2), X, output_action="vector_field")
    for k, A in enumerate(sl.gl(2).basis):
        At = torch.tensor(A)
        np.testing.assert_allclose(L[k].numpy(), (X @ (B @ At - At @ B).T).numpy(), atol=1e-13)


def test_penalty_is_zero_on_equivariant_models():
    G = sl.O(3)
    rin, rout = 5 * sl.Scalar + 5 * sl.V(G), sl.V(G) ** 2
    model = EMLP(rin, rout, G, hidden=32, layers=1, dtype=F64, seed=0)
    penalty = SymmetryPenalty(model, sl.so(3), _points(12, rin.size), input_action=rin, output_action=rout)
    assert penalty().item() <= 1e-12
    hs = SymmetryPenalty(
        model, sl.so(3), _points(12, rin.size), input_action=rin, output_action=rout, kind="hilbert_schmidt"
    )
    assert hs().item() <= 1e-24
    G4 = sl.Lorentz()
    model = EMLP(4 * sl.V(G4), sl.Scalar, G4, hidden=32, layers=1, dtype=F64, seed=0)
    assert SymmetryPenalty(model, G4.algebra, _points(8, 16), input_action=4 * sl.V(G4))().item() <= 1e-11


@settings(max_examples=15)
@given(seed=st.integers(0, 10_000), t=st.floats(0.0, 1.0))
def test_per_layer_penalty_is_convex_in_a_linear_layer(seed, t):
    """R(w) = ||M(w)||_* with M linear in (W, b): R(t w1 + (1-t) w2) <= t R(w1) + (1-t) R(w2)."""
    gen = torch.Generator().manual_seed(seed)
    layer = torch.nn.Linear(3, 3).double()
    G = sl.GL(3)
    points = torch.randn(10, 3, dtype=F64, generator=gen)
    penalty = SymmetryPenalty(
        layer, sl.gl(3), points, blocks=[(layer, sl.V(G), sl.V(G))], combine="sum", kind="nuclear"
    )
    w1, w2 = (torch.randn(3, 4, dtype=F64, generator=gen) for _ in range(2))

    def value(w):
        with torch.no_grad():
            layer.weight.copy_(w[:, :3])
            layer.bias.copy_(w[:, 3])
            return penalty().item()

    assert value(t * w1 + (1 - t) * w2) <= t * value(w1) + (1 - t) * value(w2) + 1e-10


def test_stacked_and_summed_blocks():
    G = sl.O(3)
    rep = sl.V(G)
    layers = [torch.nn.Linear(3, 3).double() for _ in range(2)]
    model = torch.nn.Sequential(*layers)
    points = _points(10, 3)
    blocks = [(layers[0], rep, rep), (layers[1], rep, rep)]
    stacked = SymmetryPenalty(model, sl.so(3), points, blocks=blocks, combine="stacked")
    summed = SymmetryPenalty(model, sl.so(3), points, blocks=blocks, combine="sum")
    mats = stacked.matrices()
    assert [m.shape for m in mats] == [(30, 3), (30, 3)]
    assert stacked.matrix().shape == (60, 3)
    # the nuclear norm of a stack is at most the sum of the blocks' norms (triangle inequality)
    assert stacked().item() <= summed().item() + 1e-12
    # rotation-commuting layers (multiples of the identity) have zero penalty
    with torch.no_grad():
        for layer in layers:
            layer.weight.copy_(2.0 * torch.eye(3))
            layer.bias.zero_()
    assert summed().item() <= 1e-13
    penalty = summed()
    assert penalty.requires_grad


def test_penalty_promotes_the_subgroup_of_the_data():
    """Minimising the nuclear norm over gl(2) keeps the so(2)-invariance of |x|^2 and finds it in the spectrum."""
    f = lambda x: (x**2).sum(dim=1, keepdim=True)  # noqa: E731
    penalty = SymmetryPenalty(f, sl.gl(2), _points(30, 2))
    values = penalty.singular_values()
    assert values.shape == (4,) and values[-1] <= 1e-12 and values[-2] > 1e-2


def test_discovery_and_promote_then_enforce():
    G = sl.O(5)
    source = EMLP(2 * sl.V(G), sl.Scalar, G, hidden=32, layers=1, dtype=F64, seed=0)  # symmetric under O(5)
    out = enforce_discovered(
        source,
        sl.gl(5),
        _points(40, 10),
        lambda H: (2 * sl.V(H), sl.Scalar),
        input_action=2 * sl.V(sl.GL(5)),
        hidden=32,
        layers=1,
        dtype=F64,
        seed=0,
    )
    assert out.discovery.dim == 10 and out.discovery.snap_error < 1e-8
    np.testing.assert_allclose(np.sort(np.abs(out.discovery.algebra.basis).sum(axis=(1, 2))), np.full(10, 2.0))
    x = _points(20, 10, seed=5)
    assert equivariance_error(out.model, out.group, out.rep_in, out.rep_out, x) <= 1e-12
    # the rebuilt model is equivariant to every rotation, though built from the discovered generators only
    assert equivariance_error(out.model, sl.SO(5), 2 * sl.V(sl.SO(5)), sl.Scalar, x) <= 1e-12


def test_discover_subalgebra_thresholds_and_failures():
    alg = sl.gl(2)
    M = np.diag([3.0, 2.0, 1.0, 0.0])
    found = discover_subalgebra(M, alg)
    assert found.dim == 1 and found.gap > 1e10
    assert discover_subalgebra(np.diag([3.0, 2.0, 1.0, 0.5]), alg).algebra is None  # no gap: nothing found
    assert discover_subalgebra(np.diag([3.0, 2.0, 1.0, 0.5]), alg, threshold=0.6).dim == 1
    with pytest.raises(sl.SymlieValueError, match="no symmetry"):  # sin(x0) + x1^2 has no rotation symmetry
        enforce_discovered(
            lambda x: torch.sin(x[:, :1]) + x[:, 1:] ** 2, sl.gl(2), _points(10, 2), lambda H: (sl.V(H), sl.Scalar)
        )


def test_penalty_bad_input():
    net = torch.nn.Linear(3, 1).double()
    with pytest.raises(sl.SymlieTypeError, match="algebra"):
        SymmetryPenalty(net, "so3", _points(4, 3))
    with pytest.raises(sl.SymlieValueError, match="kind"):
        SymmetryPenalty(net, sl.so(3), _points(4, 3), kind="trace")
    with pytest.raises(sl.SymlieValueError, match="combine"):
        SymmetryPenalty(net, sl.so(3), _points(4, 3), combine="max")
    with pytest.raises(sl.SymlieTypeError, match="blocks"):
        SymmetryPenalty(net, sl.so(3), _points(4, 3), blocks=[net])
    with pytest.raises(sl.ShapeError, match="input_action"):
        lie_derivative(net, sl.so(4), _points(4, 3))
    with pytest.raises(sl.ShapeError, match="points"):
        lie_derivative(net, sl.so(3), _points(4, 3)[0])
    with pytest.raises(sl.SymlieValueError, match="output_action"):
        lie_derivative(net, sl.so(3), _points(4, 3), output_action="equivariant")
    with pytest.raises(sl.ShapeError, match="output_action"):
        lie_derivative(net, sl.so(3), _points(4, 3), output_action=np.zeros((3, 2, 2)))
    with pytest.raises(sl.SymlieValueError, match="linear algebra"):
        lie_derivative(net, sl.se(3), _points(4, 3), input_action=sl.V(sl.SO(3)))
    assert lie_derivative_matrix(net, sl.so(3), _points(4, 3)).shape == (4, 3)
