"""Exact equivariant layers: EquivariantLinear, nonlinearities, EMLP, soft (RPP) layers, equivariance_error."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import symlie as sl  # noqa: E402
from symlie.torch import (  # noqa: E402
    EMLP,
    ElementwiseNonlinearity,
    EquivariantLinear,
    GatedNonlinearity,
    NormNonlinearity,
    SoftEquivariantLinear,
    equivariance_error,
    gated,
    rpp_penalty,
    uniform_rep,
)
from symlie.torch._structure import linear_plan  # noqa: E402

F64 = torch.float64


def _o5():
    G = sl.O(5)
    return G, 2 * sl.V(G), sl.Scalar


def _inertia():
    G = sl.O(3)
    return G, 5 * sl.Scalar + 5 * sl.V(G), sl.V(G) ** 2


def _lorentz():
    G = sl.Lorentz()
    return G, 4 * sl.V(G), sl.Scalar


def _so3_cross():
    G = sl.SO(3)
    return G, sl.V(G) ** 2 + sl.Scalar, sl.V(G) + sl.V(G) ** 2


def _product():
    G = sl.SO(3) * sl.Sn(4)
    return G, sl.V(G, factor=0) * sl.V(G, factor=1) + sl.V(G), sl.V(G, factor=0) + sl.Scalar


def _sn():
    G = sl.Sn(4)
    return G, sl.V(G) ** 2, sl.V(G) + sl.Scalar


def _dual():
    G = sl.SL(3)
    return G, sl.V(G) + sl.V(G).dual, sl.V(G) * sl.V(G).dual


CASES = {
    "O5-2V-to-S": _o5,
    "O3-5S+5V-to-T2": _inertia,
    "Lorentz-4V-to-S": _lorentz,
    "SO3-T2+S-to-V+T2": _so3_cross,
    "SO3xS4-mixed": _product,
    "S4-T2-to-V+S": _sn,
    "SL3-dual": _dual,
}


def _random_bias(layer):
    if layer.bias_coefficients is not None:
        with torch.no_grad():
            layer.bias_coefficients.normal_(generator=torch.Generator().manual_seed(1))


# ------------------------------------------------------------------------------------------ EquivariantLinear
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_linear_weight_spans_the_equivariant_space(case):
    _, rin, rout = CASES[case]()
    layer = EquivariantLinear(rin, rout, dtype=F64, generator=torch.Generator().manual_seed(0))
    Q = sl.equivariant_basis(rin, rout)
    assert layer.coefficients.numel() == Q.shape[1]
    # The map c -> vec(W) is linear; its columns (unit coefficients) must span exactly range(Q).
    basis = _layer_basis(layer)
    if Q.shape[1]:
        assert np.linalg.norm(basis - Q @ (Q.T @ basis)) <= 1e-12 * max(1.0, np.linalg.norm(basis))
        assert np.linalg.matrix_rank(basis) == Q.shape[1]


def _layer_basis(layer):
    saved = layer.coefficients.detach().clone()
    columns = []
    with torch.no_grad():
        for j in range(saved.numel()):
            layer.coefficients.zero_()
            layer.coefficients[j] = 1.0
            columns.append(layer.weight().reshape(-1).numpy().copy())
        layer.coefficients.copy_(saved)
    return np.stack(columns, axis=1) if columns else np.zeros((layer.out_features * layer.in_features, 0))


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)], ids=["f32", "f64"])
def test_linear_is_equivariant(case, dtype, tol):
    G, rin, rout = CASES[case]()
    layer = EquivariantLinear(rin, rout, dtype=dtype, generator=torch.Generator().manual_seed(0))
    _random_bias(layer)
    x = torch.randn(16, rin.size, dtype=dtype, generator=torch.Generator().manual_seed(2))
    assert equivariance_error(layer, G, rin, rout, x, n_elements=4) <= tol


def test_linear_matches_dense_reference(rng):
    """The fast assembly equals W = sum_j c_j Q_j with Q from the layer's own plan built densely."""
    _, rin, rout = _so3_cross()
    layer = EquivariantLinear(rin, rout, dtype=F64)
    plan = linear_plan(rin, rout)
    W = np.zeros((rout.size, rin.size))
    c = layer.coefficients.detach().numpy()
    offset = 0
    for b, a, mats in plan.blocks:
        out_pos, in_pos = plan.layout_out.positions[b], plan.layout_in.positions[a]
        k, mb, ma = mats.shape[0], out_pos.shape[0], in_pos.shape[0]
        C = c[offset : offset + k * mb * ma].reshape(k, mb, ma)
        offset += k * mb * ma
        for j in range(k):
            for n in range(mb):
                for m in range(ma):
                    W[np.ix_(out_pos[n], in_pos[m])] += C[j, n, m] * mats[j]
    np.testing.assert_allclose(layer.weight().detach().numpy(), W, atol=1e-14)


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_block_sparse_product_matches_the_dense_one(case):
    """The block-by-block forward (runs or gathered coordinates) equals ``x W^T + b`` with the assembled ``W``."""
    _, rin, rout = CASES[case]()
    layer = EquivariantLinear(rin, rout, dtype=F64, generator=torch.Generator().manual_seed(0))
    _random_bias(layer)
    x = torch.randn(5, rin.size, dtype=F64, generator=torch.Generator().manual_seed(4))
    layer.block_sparse = False
    dense = layer(x)
    layer.block_sparse = True
    np.testing.assert_allclose(layer(x).detach().numpy(), dense.detach().numpy(), atol=1e-13)
    if layer.bias() is not None:  # the bias is added once, whichever path
        np.testing.assert_allclose(layer(torch.zeros(1, rin.size, dtype=F64))[0].detach(), layer.bias().detach())


def test_linear_bias_is_invariant():
    G = sl.Sn(3)
    rep = sl.V(G) + sl.V(G) ** 2
    layer = EquivariantLinear(rep, rep, dtype=F64)
    assert layer.bias_coefficients.numel() == 1 + 2  # constants on V; diagonal and off-diagonal orbits on V(x)V
    _random_bias(layer)
    b = layer.bias().detach().numpy()
    for h in G.discrete:
        np.testing.assert_allclose(rep.rho(h) @ b, b, atol=1e-14)
    assert EquivariantLinear(sl.V(sl.O(3)), sl.V(sl.O(3))).bias() is None  # no invariant vectors in V of O(3)


def test_linear_dtype_device_and_shared_plan():
    G = sl.O(3)
    a = EquivariantLinear(sl.V(G), sl.V(G) ** 2)
    b = EquivariantLinear(sl.V(G), sl.V(G) ** 2)
    assert a.plan is b.plan  # cached and shared
    assert a.weight().dtype == torch.get_default_dtype()
    a = a.to(F64)
    assert a.weight().dtype == F64 and a(torch.zeros(2, 3, dtype=F64)).dtype == F64
    assert "coefficients" in a.state_dict() and not any("basis" in k for k in a.state_dict())


def test_conversion_to_float64_keeps_exact_equivariance():
    """A layer built in float32 and converted with .double() rebuilds its bases from the float64 plan."""
    G, rin, rout = _inertia()
    model = EMLP(rin, rout, G, hidden=48, layers=1, dtype=torch.float32, seed=0).double()
    x = torch.randn(16, rin.size, dtype=F64, generator=torch.Generator().manual_seed(0))
    assert equivariance_error(model, G, rin, rout, x) <= 1e-12
    assert model.float()(x.float()).dtype == torch.float32


def test_linear_forward_is_one_matmul_on_batches():
    G = sl.SO(3)
    layer = EquivariantLinear(sl.V(G), sl.V(G), dtype=F64)
    x = torch.randn(2, 5, 3, dtype=F64)
    np.testing.assert_allclose(layer(x).detach().numpy(), (x @ layer.weight().T).detach().numpy(), atol=1e-14)


def test_linear_bad_input():
    G = sl.SO(3)
    with pytest.raises(sl.SymlieTypeError, match="rep_in"):
        EquivariantLinear("V", sl.V(G))
    with pytest.raises(sl.GroupMismatchError):
        EquivariantLinear(sl.V(G), sl.V(sl.SO(2)))
    layer = EquivariantLinear(sl.V(G), sl.V(G))
    with pytest.raises(sl.ShapeError, match=r"x must have shape \(\.\.\., 3\)"):
        layer(torch.zeros(2, 4))
    with pytest.raises(sl.ShapeError, match=r"x must be a torch\.Tensor"):
        layer(np.zeros((2, 3)))


# ------------------------------------------------------------------------------------------ nonlinearities
def test_gated_and_norm_nonlinearities_are_equivariant():
    G = sl.O(3)
    rep = 2 * sl.Scalar + sl.V(G) + sl.V(G) ** 2
    gate = GatedNonlinearity(rep)
    assert gate.rep_in == gated(rep) and gated(rep).size == rep.size + 2
    x = torch.randn(8, gated(rep).size, dtype=F64)
    assert equivariance_error(gate, G, gated(rep), rep, x) <= 1e-13
    norm = NormNonlinearity(rep, dtype=F64)
    assert equivariance_error(norm, G, rep, rep, torch.randn(8, rep.size, dtype=F64)) <= 1e-13


@pytest.mark.parametrize("case", ["O5-2V-to-S", "SO3xS4-mixed", "S4-T2-to-V+S"])
def test_gated_fast_path_matches_the_general_one(case):
    G, _, _ = CASES[case]()
    rep = uniform_rep(G, 60) + sl.Scalar + sl.V(G)
    gate = GatedNonlinearity(rep)
    y = torch.randn(3, gated(rep).size, dtype=F64)
    fast = gate(y)
    gate._segments = None
    np.testing.assert_allclose(fast.numpy(), gate(y).numpy(), atol=1e-15)


def test_norm_and_elementwise_nonlinearities_check_the_group():
    with pytest.raises(sl.SymlieValueError, match="orthogonally"):
        NormNonlinearity(sl.V(sl.Lorentz()))
    with pytest.raises(sl.SymlieValueError, match="continuous part"):
        ElementwiseNonlinearity(sl.V(sl.SO(3)))
    G = sl.Sn(4)
    layer = ElementwiseNonlinearity(sl.V(G) ** 2)
    x = torch.randn(6, 16, dtype=F64)
    assert equivariance_error(layer, G, sl.V(G) ** 2, sl.V(G) ** 2, x) == 0.0


# ------------------------------------------------------------------------------------------------------- EMLP
@pytest.mark.parametrize("case", ["O5-2V-to-S", "O3-5S+5V-to-T2", "Lorentz-4V-to-S", "SO3xS4-mixed", "S4-T2-to-V+S"])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)], ids=["f32", "f64"])
def test_emlp_is_equivariant(case, dtype, tol):
    G, rin, rout = CASES[case]()
    model = EMLP(rin, rout, G, hidden=48, layers=2, dtype=dtype, seed=0)
    x = torch.randn(32, rin.size, dtype=dtype, generator=torch.Generator().manual_seed(3))
    assert model(x).shape == (32, rout.size)
    assert equivariance_error(model, G, rin, rout, x, n_elements=4) <= tol


def test_emlp_is_deterministic_given_a_seed_and_trains():
    G, rin, rout = _o5()
    a = EMLP(rin, rout, G, hidden=32, layers=1, seed=9)
    b = EMLP(rin, rout, G, hidden=32, layers=1, seed=9)
    x = torch.randn(64, rin.size, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a(x), b(x))
    y = (x[:, :5] * x[:, 5:]).sum(dim=1, keepdim=True)  # x1 . x2: needs the bilinear features
    opt = torch.optim.Adam(a.parameters(), 1e-2)
    first = None
    for _ in range(200):  # every seed 0-9 ends below 0.002 of the first loss
        loss = ((a(x) - y) ** 2).mean()
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 * first


def test_uniform_rep_allocates_orders():
    H = uniform_rep(sl.O(5), 384)
    assert 360 <= H.size <= 400
    assert uniform_rep(sl.Sn(10), 8).size >= 10  # at least one copy of V
    with pytest.raises(sl.SymlieTypeError, match="group"):
        uniform_rep("O5", 10)


def test_emlp_bad_input():
    G = sl.O(3)
    with pytest.raises(sl.GroupMismatchError, match="rep_in"):
        EMLP(sl.V(sl.SO(3)), sl.Scalar, G)
    with pytest.raises(sl.SymlieTypeError, match="group"):
        EMLP(sl.V(G), sl.Scalar, "O(3)")
    with pytest.raises(sl.SymlieValueError, match="hidden"):
        EMLP(sl.V(G), sl.Scalar, G, hidden=0)
    with pytest.raises(sl.ShapeError, match="x must have shape"):
        EMLP(sl.V(G), sl.Scalar, G, hidden=16, layers=1)(torch.zeros(3, 4))


# -------------------------------------------------------------------------------------------------- soft / RPP
def test_soft_emlp_starts_equivariant_and_penalises_the_free_path():
    G, rin, rout = _o5()
    model = EMLP(rin, rout, G, hidden=32, layers=1, soft=True, dtype=F64, seed=0)
    x = torch.randn(16, rin.size, dtype=F64)
    assert equivariance_error(model, G, rin, rout, x) <= 1e-12
    assert rpp_penalty(model).item() == 0.0
    layers = [m for m in model.modules() if isinstance(m, SoftEquivariantLinear)]
    with torch.no_grad():
        layers[-1].free.weight.fill_(0.1)
    expected = 0.01 * layers[-1].free.weight.numel()
    assert rpp_penalty(model, free=2.0).item() == pytest.approx(2 * expected)
    assert equivariance_error(model, G, rin, rout, x) > 1e-3
    assert rpp_penalty(model, equivariant=1.0).item() > rpp_penalty(model).item()
    with pytest.raises(sl.SymlieValueError, match="no SoftEquivariantLinear"):
        rpp_penalty(EMLP(rin, rout, G, hidden=16, layers=1))
    with pytest.raises(sl.SymlieValueError, match="free"):
        rpp_penalty(model, free=-1.0)


# --------------------------------------------------------------------------------------------- the checker
def test_equivariance_error_detects_a_broken_model_and_checks_input():
    G = sl.SO(3)
    broken = torch.nn.Linear(3, 3).double()
    assert equivariance_error(broken, G, sl.V(G), sl.V(G), np.random.default_rng(0).normal(size=(8, 3))) > 1e-2
    with pytest.raises(sl.ShapeError, match="x must have shape"):
        equivariance_error(broken, G, sl.V(G), sl.V(G), np.zeros((8, 4)))
    with pytest.raises(sl.GroupMismatchError, match="rep_out"):
        equivariance_error(broken, G, sl.V(G), sl.V(sl.O(3)), np.zeros((8, 3)))
    with pytest.raises(sl.SymlieTypeError, match="group"):
        equivariance_error(broken, "SO3", sl.V(G), sl.V(G), np.zeros((8, 3)))


def test_import_symlie_does_not_import_torch():
    code = "import sys, symlie; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
