"""Canonical forms without enumeration: sorting for S(n) (n = 10), Gram labelling for sets of vectors under O(n)."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import symlie as sl  # noqa: E402
from symlie.torch import (  # noqa: E402  # noqa: E402
    FiniteCanonicalizer,
    OrthogonalCanonicalizer,
    PermutationCanonicalizer,
    RelaxedEquivariant,
    equivariant_floor,
    fixed_subspace,
    gram_labelling,
)

F64 = torch.float64


def _permutation(rng, n):
    P = np.zeros((n, n))
    P[np.arange(n), rng.permutation(n)] = 1.0
    return P


def _closure(generators, n):
    """All products of the generators (a small finite group), by breadth-first search."""
    elements = {np.round(np.eye(n), 8).tobytes(): np.eye(n)}
    frontier = [np.eye(n)]
    while frontier:
        new = []
        for g in frontier:
            for h in generators:
                product = h @ g
                key = (np.round(product, 8) + 0.0).tobytes()  # + 0.0: -0.0 and 0.0 alike
                if key not in elements:
                    elements[key] = product
                    new.append(product)
        frontier = new
    return list(elements.values())


def test_sorting_matches_enumeration_on_S5(rng):
    G = sl.Sn(5)
    rep = sl.V(G) + sl.Scalar + sl.V(G)
    X = rng.integers(0, 3, size=(30, rep.size)).astype(float)
    sorting, enumeration = PermutationCanonicalizer(G, rep), FiniteCanonicalizer(G, rep)
    C, H = sorting.canonicalize(X)
    np.testing.assert_array_equal(C, enumeration.canonicalize(X)[0])
    for c, h, x in zip(C, H, X):
        np.testing.assert_array_equal(rep.rho(h) @ c, x)
    for x in X[:10]:
        assert sorting.stabilizer(x).order == enumeration.stabilizer(x).order


def test_sorting_canonicalizer_on_S10(rng):
    G = sl.Sn(10)  # 3628800 elements: out of reach of enumeration
    rep = 2 * sl.V(G) + sl.Scalar
    canon = PermutationCanonicalizer(G, rep)
    x = np.concatenate([[1, 1, 1, 2, 2, 3, 4, 5, 6, 7], [0, 0, 1, 5, 5, 0, 0, 0, 0, 0], [9.0]])
    stab = canon.stabilizer(x)
    assert stab.order == math.factorial(2) * math.factorial(2)  # items (1,0) twice and (2,5) twice
    assert len(stab.elements) == 2
    for s in stab.elements:
        np.testing.assert_array_equal(rep.rho(s) @ x, x)
    c0 = canon.canonicalize(x[None])[0][0]
    assert c0[:10].tolist() == [1, 1, 1, 2, 2, 3, 4, 5, 6, 7] and c0[10:20].tolist() == [0, 0, 1, 5, 5, 0, 0, 0, 0, 0]
    for _ in range(5):  # invariance on the orbit, and x = rho(h) c
        gx = rep.rho(_permutation(rng, 10)) @ x
        C, H = canon.canonicalize(gx[None])
        np.testing.assert_array_equal(C[0], c0)
        np.testing.assert_array_equal(rep.rho(H[0]) @ C[0], gx)
    with pytest.raises(sl.SymlieValueError, match="FiniteCanonicalizer"):
        PermutationCanonicalizer(G, sl.V(G) ** 2)
    with pytest.raises(sl.SymlieValueError, match="Sn"):
        PermutationCanonicalizer(sl.D(6), sl.V(sl.D(6)))


def test_relaxed_model_breaks_the_symmetry_of_ten_equal_items():
    G = sl.Sn(10)
    canon = PermutationCanonicalizer(G, sl.V(G))
    x, y = np.ones((1, 10)), np.eye(10)[:1]  # a symmetric input, a one-hot target
    # an equivariant output lies in span(1): the floor is |e0 - 1/10|^2 / 10
    assert equivariant_floor(canon, sl.V(G), x, y) == pytest.approx(0.9 / 10, abs=1e-12)
    network = torch.nn.Linear(10, 10, dtype=F64)
    relaxed = RelaxedEquivariant(canon, sl.V(G), network)
    with torch.no_grad():  # phi(c) = e0 exactly: weight 0, bias e0
        network.weight.zero_()
        network.bias.copy_(torch.tensor(y[0]))
    assert torch.equal(relaxed(torch.tensor(x)), torch.tensor(y))


def _hexagon():
    angles = np.arange(6) * np.pi / 3
    return np.stack([np.cos(angles), np.sin(angles), np.zeros(6)], axis=1)


def test_gram_labelling_is_invariant_and_finds_the_automorphisms(rng):
    vectors = rng.normal(size=(5, 3))
    order, autos = gram_labelling(vectors)
    assert len(autos) == 1  # generic vectors: no symmetry
    reference = vectors[order] @ vectors[order].T
    for _ in range(4):
        g = sl.O(3).sample(rng)
        moved = (vectors @ g.T)[rng.permutation(5)]
        order2, _ = gram_labelling(moved)
        np.testing.assert_allclose(moved[order2] @ moved[order2].T, reference, atol=1e-12)
    assert len(gram_labelling(_hexagon())[1]) == 12  # the dihedral group D6
    square = np.array([[1.0, 0], [0, 1], [-1, 0], [0, -1]])
    assert len(gram_labelling(square)[1]) == 8


def test_set_canonicalizer_hexagon_stabilizer_and_invariance(rng):
    hexagon = _hexagon()
    x = hexagon.reshape(-1)
    o3 = OrthogonalCanonicalizer(sl.O(3), 6, unordered=True)
    so3 = OrthogonalCanonicalizer(sl.SO(3), 6, unordered=True)
    stab = o3.stabilizer(x)
    assert stab.order == 24 and stab.dim == 0  # D6 x O(1): the hexagon's symmetries and z -> -z
    assert so3.stabilizer(x).order == 12  # D6, each reflection of the plane composed with z -> -z
    for s in _closure(list(stab.elements), 3):  # every element permutes the set
        moved = hexagon @ s.T
        assert all(np.abs(moved - v).sum(axis=1).min() <= 1e-12 for v in hexagon)
    assert len(_closure(list(stab.elements), 3)) == 24
    assert fixed_subspace(stab, sl.V(sl.O(3))).shape[1] == 0  # an equivariant vector output must vanish
    assert OrthogonalCanonicalizer(sl.O(3), 6).stabilizer(x).order == 2  # as an ordered tuple: only z -> -z
    C = o3.canonicalize(x[None])[0][0]
    for _ in range(4):  # a rotated, relabelled hexagon has the same canonical coordinates
        g = sl.O(3).sample(rng)
        moved = ((hexagon @ g.T)[rng.permutation(6)]).reshape(-1)
        np.testing.assert_allclose(o3.canonicalize(moved[None])[0][0], C, atol=1e-9)


def test_relaxed_set_model_is_relaxed_equivariant(rng):
    G = sl.O(3)
    canon = OrthogonalCanonicalizer(G, 3, unordered=True)
    triangle = np.array([[1.0, 0, 0], [-0.5, np.sqrt(3) / 2, 0], [-0.5, -np.sqrt(3) / 2, 0]])
    network = torch.nn.Linear(9, 3, dtype=F64)
    model = RelaxedEquivariant(canon, sl.V(G), network)
    stab = _closure(list(canon.stabilizer(triangle.reshape(-1)).elements), 3)
    assert len(stab) == 12  # D3 x O(1)
    with torch.no_grad():
        fx = model(torch.tensor(triangle.reshape(1, -1)))[0].numpy()
        assert np.linalg.norm(fx) > 1e-3  # not in the (zero) fixed subspace: the symmetry is broken
        for _ in range(4):
            g = G.sample(rng)
            moved = (triangle @ g.T)[rng.permutation(3)].reshape(1, -1)
            fgx = model(torch.tensor(moved))[0].numpy()
            assert min(np.abs(fgx - g @ s @ fx).max() for s in stab) <= 1e-10
