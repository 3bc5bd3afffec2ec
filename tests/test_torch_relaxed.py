"""Relaxed equivariance and symmetry breaking: the demonstrations with known outcomes (Kaba & Ravanbakhsh).

A symmetric input mapped to a less symmetric target: an exactly equivariant model is stuck at the closed-form loss
floor ``mean ||y - P_fix y||^2``, the canonicalisation-based relaxed model fits exactly, and noise injection fits
only on average (its mean prediction over the stabiliser orbit of the noise is still in the fixed subspace).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import symlie as sl  # noqa: E402
from symlie.torch import (  # noqa: E402
    EMLP,
    FiniteCanonicalizer,
    NoiseInjection,
    OrthogonalCanonicalizer,
    RelaxedEquivariant,
    enumerate_group,
    equivariant_floor,
    fixed_subspace,
)

F64 = torch.float64


def _polygon():
    """Equal features on the 6 vertices of a hexagon (D6); target: pick vertex 0."""
    G = sl.D(6)
    return G, sl.V(G), sl.V(G), np.ones((1, 6)), np.eye(6)[:1], 1 - 1 / 6


def _graph():
    """The 5-cycle as an adjacency matrix (vertex-transitive under S5 acting on V(x)V); target: pick node 0."""
    G = sl.Sn(5)
    A = np.zeros((5, 5))
    for i in range(5):
        A[i, (i + 1) % 5] = A[(i + 1) % 5, i] = 1.0
    return G, sl.V(G) ** 2, sl.V(G), A.reshape(1, -1), np.eye(5)[:1], 1 - 1 / 5


def _ising():
    """A palindromic spin chain (symmetric under reversal, Z2); target: a magnetisation on the left end only."""
    reverse = np.eye(8)[::-1]
    G = sl.Group(None, [reverse], name="Z2")
    x = np.array([[1.0, 1.0, -1.0, -1.0, -1.0, -1.0, 1.0, 1.0]])
    y = np.zeros((1, 8))
    y[0, 0] = 1.0
    return G, sl.V(G), sl.V(G), x, y, 0.5


DEMOS = {"hexagon-D6": _polygon, "5-cycle-S5": _graph, "ising-chain-Z2": _ising}


def _fit(model, X, Y, *, steps, lr):
    opt = torch.optim.Adam(model.parameters(), lr)
    for _ in range(steps):
        loss = ((model(X) - Y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return ((model(X) - Y) ** 2).mean().item()


def _fit_exactly(model, X, Y):
    """L-BFGS on the (linear least-squares) fit of a free head: converges to machine precision."""
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=200, tolerance_grad=1e-14, tolerance_change=1e-16)

    def closure():
        opt.zero_grad()
        loss = ((model(X) - Y) ** 2).mean()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return ((model(X) - Y) ** 2).mean().item()


def _linear(n_in, n_out, seed=0):
    layer = torch.nn.Linear(n_in, n_out, dtype=F64)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_(0.0, 0.3, generator=generator)
    return layer


@pytest.mark.parametrize("demo", list(DEMOS), ids=list(DEMOS))
def test_symmetry_breaking_demonstrations(demo):
    G, rep_in, rep_out, x, y, squared_floor = DEMOS[demo]()
    canon = FiniteCanonicalizer(G, rep_in)
    floor = equivariant_floor(canon, rep_out, x, y)
    assert floor == pytest.approx(squared_floor / rep_out.size, abs=1e-12)
    X, Y = torch.tensor(x, dtype=F64), torch.tensor(y, dtype=F64)

    # 1. Exactly equivariant: the output is in the fixed subspace for any weights, so the loss never beats the floor.
    equivariant = EMLP(rep_in, rep_out, G, hidden=24, layers=1, dtype=F64, seed=0)
    loss = _fit(equivariant, X, Y, steps=150, lr=2e-2)
    assert floor - 1e-12 <= loss <= floor + 1e-3

    # 2. Relaxed (canonicalisation): fits exactly.
    relaxed = RelaxedEquivariant(canon, rep_out, _linear(rep_in.size, rep_out.size))
    assert _fit_exactly(relaxed, X, Y) <= 1e-16

    # ... and is relaxed equivariant: f(g x) = g s f(x) with s in the stabiliser of x, for every g.
    stab = canon.stabilizer(x[0])
    assert stab.order >= 2
    with torch.no_grad():
        fx = relaxed(X)[0].numpy()
        for g in canon.elements:
            fgx = relaxed(X @ torch.tensor(rep_in.rho(g)).T)[0].numpy()
            gaps = [np.abs(fgx - rep_out.rho(g) @ rep_out.rho(s) @ fx).max() for s in stab.elements]
            assert min(gaps) <= 1e-10

    # 3. Noise injection: the mean over the stabiliser orbit of the noise lies in the fixed subspace, so the
    #    expected loss is at least the floor although single noise draws may land closer to the target.
    noisy = NoiseInjection(EMLP(rep_in + rep_in, rep_out, G, hidden=24, layers=1, dtype=F64, seed=0), rep_in, seed=0)
    _fit(noisy, X, Y, steps=100, lr=2e-2)
    fixed = fixed_subspace(stab, rep_out)
    losses = []
    with torch.no_grad():
        for seed in range(4):
            z = torch.randn(1, rep_in.size, dtype=F64, generator=torch.Generator().manual_seed(seed))
            outs = torch.stack([noisy(X, z @ torch.tensor(rep_in.rho(s)).T)[0] for s in stab.elements]).numpy()
            mean = outs.mean(axis=0)
            assert np.abs(mean - fixed @ (fixed.T @ mean)).max() <= 1e-10
            losses.append(((outs - y) ** 2).mean())
    assert np.mean(losses) >= floor - 1e-12


def test_orthogonal_demonstration_vectors_in_a_plane():
    """Two vectors in the xy-plane under O(3): stabiliser {I, z-reflection}, target e_z, floor |e_z|^2 / 3."""
    G = sl.O(3)
    canon = OrthogonalCanonicalizer(G, 2)
    x = np.array([[1.0, 0.0, 0.0, 0.3, 1.0, 0.0]])
    y = np.array([[0.0, 0.0, 1.0]])
    stab = canon.stabilizer(x[0])
    assert stab.dim == 0 and stab.elements.shape == (1, 3, 3) and stab.order == 2
    np.testing.assert_allclose(stab.elements[0], np.diag([1.0, 1.0, -1.0]), atol=1e-15)
    assert equivariant_floor(canon, sl.V(G), x, y) == pytest.approx(1 / 3)
    X, Y = torch.tensor(x), torch.tensor(y)
    equivariant = EMLP(2 * sl.V(G), sl.V(G), G, hidden=24, layers=1, dtype=F64, seed=0)
    assert _fit(equivariant, X, Y, steps=100, lr=2e-2) >= 1 / 3 - 1e-12
    relaxed = RelaxedEquivariant(canon, sl.V(G), _linear(6, 3))
    assert _fit_exactly(relaxed, X, Y) <= 1e-16
    rng = np.random.default_rng(0)
    with torch.no_grad():
        fx = relaxed(X)[0].numpy()
        for _ in range(5):  # relaxed equivariance: g^T f(g x) = s f(x), s in {I, diag(1, 1, -1)}
            g = G.sample(rng)
            back = g.T @ relaxed(X @ torch.tensor(np.kron(np.eye(2), g)).T)[0].numpy()
            assert min(np.abs(back - s @ fx).max() for s in (np.eye(3), np.diag([1.0, 1.0, -1.0]))) <= 1e-10
    # under SO(3) the same input has a trivial stabiliser: the normal is determined (the cross product)
    special = OrthogonalCanonicalizer(sl.SO(3), 2)
    assert special.stabilizer(x[0]).dim == 0 and special.stabilizer(x[0]).elements.shape[0] == 0


def test_orthogonal_canonicalizer_is_invariant_and_reconstructs(rng):
    for group, k in ((sl.O(3), 2), (sl.SO(3), 3), (sl.O(4), 5), (sl.SO(2), 1)):
        canon = OrthogonalCanonicalizer(group, k)
        X = rng.normal(size=(6, k * group.n))
        C, H = canon.canonicalize(X)
        for x, c, h in zip(X, C, H):
            np.testing.assert_allclose(np.kron(np.eye(k), h) @ c, x, atol=1e-12)
            np.testing.assert_allclose(h.T @ h, np.eye(group.n), atol=1e-12)
            if canon.special:
                assert np.linalg.det(h) == pytest.approx(1.0)
        g = group.sample(rng)
        C2, _ = canon.canonicalize(X @ np.kron(np.eye(k), g).T)
        np.testing.assert_allclose(C2, C, atol=1e-10)
    # one vector in R^3 under O(3): stabiliser O(2) around it, dimension 1
    line = OrthogonalCanonicalizer(sl.O(3), 1).stabilizer(np.array([0.0, 0.0, 2.0]))
    assert line.dim == 1 and line.elements.shape == (1, 3, 3) and line.order is None
    assert np.abs(line.algebra[0] @ np.array([0.0, 0.0, 1.0])).max() <= 1e-15


def test_finite_canonicalizer_and_group_enumeration(rng):
    assert enumerate_group(sl.Sn(4)).shape == (24, 4, 4)
    assert enumerate_group(sl.Z(5) * sl.Sn(3)).shape[0] == 30
    G = sl.D(5)
    canon = FiniteCanonicalizer(G, sl.V(G))
    X = rng.normal(size=(4, 5))
    C, H = canon.canonicalize(X)
    for x, c, h in zip(X, C, H):
        np.testing.assert_allclose(h @ c, x, atol=1e-14)
        for g in canon.elements:
            np.testing.assert_allclose(canon.canonicalize((g @ x)[None])[0][0], c, atol=1e-14)
    assert canon.stabilizer(X[0]).order == 1
    with pytest.raises(sl.SymlieValueError, match="continuous"):
        enumerate_group(sl.SO(3))
    with pytest.raises(sl.SymlieValueError, match="max_elements"):
        enumerate_group(sl.Sn(6), max_elements=100)


def test_relaxed_bad_input():
    G = sl.D(4)
    with pytest.raises(sl.SymlieValueError, match="O\\(n\\) or SO\\(n\\)"):
        OrthogonalCanonicalizer(sl.Lorentz(), 2)
    with pytest.raises(sl.SymlieTypeError, match="canonicalizer"):
        RelaxedEquivariant("sort", sl.V(G), torch.nn.Linear(4, 4))
    with pytest.raises(sl.SymlieTypeError, match="rep_out"):
        RelaxedEquivariant(FiniteCanonicalizer(G, sl.V(G)), sl.V(sl.Sn(4)), torch.nn.Linear(4, 4))
    with pytest.raises(sl.ShapeError, match="X must have shape"):
        FiniteCanonicalizer(G, sl.V(G)).canonicalize(np.zeros((2, 3)))
    with pytest.raises(sl.SymlieValueError, match="scale"):
        NoiseInjection(torch.nn.Identity(), sl.V(G), scale=0.0)
    with pytest.raises(sl.ShapeError, match="noise"):
        NoiseInjection(torch.nn.Identity(), sl.V(G))(torch.zeros(2, 4), torch.zeros(2, 3))
