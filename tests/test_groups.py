"""Matrix groups: random elements lie in the group, finite parts have the right order, products, validation."""

from __future__ import annotations

import numpy as np
import pytest

import symlie as sl
from symlie import Group
from symlie.testing import assert_symmetric

ETA = np.diag([1.0, -1.0, -1.0, -1.0])


def samples(group: Group, count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [group.sample(rng) for _ in range(count)]


def generated(generators: tuple[np.ndarray, ...]) -> set[bytes]:
    """All products of the generators (breadth-first closure of a finite matrix group), as rounded bytes."""
    n = generators[0].shape[0]
    identity = np.eye(n)
    seen = {identity.round(9).tobytes(): identity}
    frontier = [identity]
    while frontier:
        new = []
        for g in frontier:
            for h in generators:
                gh = g @ h
                key = gh.round(9).tobytes()
                if key not in seen:
                    seen[key] = gh
                    new.append(gh)
        frontier = new
    return set(seen)


# ----------------------------------------------------------------------------------- random elements


@pytest.mark.parametrize("n", [2, 3, 5])
def test_special_orthogonal_samples(n: int) -> None:
    for g in samples(sl.SO(n), 5):
        np.testing.assert_allclose(g.T @ g, np.eye(n), atol=1e-13)
        assert np.linalg.det(g) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_orthogonal_samples_reach_both_components(n: int) -> None:
    dets = []
    for g in samples(sl.O(n), 12):
        np.testing.assert_allclose(g.T @ g, np.eye(n), atol=1e-13)
        dets.append(round(np.linalg.det(g)))
    assert set(dets) == {-1, 1}


def test_special_and_general_linear_samples() -> None:
    for g in samples(sl.SL(3), 5):
        assert np.linalg.det(g) == pytest.approx(1.0, abs=1e-12)
    signs = {np.sign(np.linalg.det(g)) for g in samples(sl.GL(2), 12)}
    assert signs == {-1.0, 1.0}


def test_lorentz_samples_preserve_the_metric_and_reach_all_four_components() -> None:
    components = set()
    for g in samples(sl.Lorentz(), 40):
        np.testing.assert_allclose(g.T @ ETA @ g, ETA, atol=1e-12)
        components.add((round(np.linalg.det(g)), np.sign(g[0, 0])))
    assert components == {(1, 1.0), (1, -1.0), (-1, 1.0), (-1, -1.0)}


def test_proper_orthochronous_lorentz_samples() -> None:
    for g in samples(sl.SO13p(), 8):
        np.testing.assert_allclose(g.T @ ETA @ g, ETA, atol=1e-12)
        assert np.linalg.det(g) == pytest.approx(1.0, abs=1e-12)
        assert g[0, 0] >= 1.0 - 1e-12


@pytest.mark.parametrize(
    ("group", "order"),
    [(sl.Sn(3), 6), (sl.Sn(4), 24), (sl.Z(5), 5), (sl.Z(1), 1), (sl.D(4), 8), (sl.D(5), 10)],
    ids=["S3", "S4", "Z5", "Z1", "D4", "D5"],
)
def test_finite_groups_have_the_right_order_and_samples_stay_inside(group: Group, order: int) -> None:
    elements = generated(group.discrete)
    assert len(elements) == order
    assert group.is_finite and group.algebra.dim == 0
    reached = set()
    for g in samples(group, 60):
        assert np.all((g == 0) | (g == 1)) and np.all(g.sum(axis=0) == 1)  # permutation matrices
        reached.add(g.round(9).tobytes())
    assert reached <= elements
    if order <= 10:
        assert reached == elements  # every element is reachable, and 60 words hit all of these small groups


def test_samples_reach_every_element_of_a_long_cycle() -> None:
    reached = {g.round(9).tobytes() for g in samples(sl.Z(10), 300)}
    assert len(reached) == 10


def test_trivial_groups() -> None:
    np.testing.assert_array_equal(sl.Sn(1).sample(0), [[1.0]])
    trivial = Group(n=3)
    assert trivial.is_finite and trivial.name == "Group(n=3, dim=0, discrete=0)"
    np.testing.assert_array_equal(trivial.sample(0), np.eye(3))


def test_sampling_is_deterministic_given_a_seed() -> None:
    G = sl.O(3) * sl.Sn(3)
    np.testing.assert_array_equal(G.sample(7), G.sample(7))
    np.testing.assert_array_equal(G.sample(np.random.default_rng(7)), G.sample(7))
    assert not np.array_equal(G.sample(7), G.sample(8))


# --------------------------------------------------------------------------------------------- products


def test_product_group_acts_block_diagonally() -> None:
    G = sl.SO(3) * sl.Sn(4)
    assert G.n == 7 and G.blocks == (3, 4)
    assert G.algebra.dim == 3 and len(G.discrete) == 2
    assert repr(G) == "SO(3)×S(4)"
    for g in samples(G, 5):
        np.testing.assert_array_equal(g[:3, 3:], 0.0)
        np.testing.assert_array_equal(g[3:, :3], 0.0)
        np.testing.assert_allclose(g[:3, :3].T @ g[:3, :3], np.eye(3), atol=1e-13)
        assert np.all((g[3:, 3:] == 0) | (g[3:, 3:] == 1))


def test_products_nest() -> None:
    G = (sl.SO(2) * sl.O(3)) * sl.Z(3)
    assert G.blocks == (2, 3, 3) and G.n == 8
    assert G.algebra.dim == 1 + 3
    assert len(G.discrete) == 2


def test_user_group_from_generators() -> None:
    rotation = sl.LieAlgebra([[[0.0, 1.0], [-1.0, 0.0]]])  # E01 - E10, as in so(2)
    flip = np.diag([-1.0, 1.0])
    G = Group(rotation, [flip], name="my O(2)")
    assert repr(G) == "my O(2)" and G.n == 2 and not G.is_finite
    assert G == sl.O(2)  # equal by value: same algebra, generators and blocks
    assert Group(rotation, [np.diag([1.0, -1.0])]) != sl.O(2)  # the same set of matrices, other generators


def test_value_semantics() -> None:
    assert sl.SO(3) == sl.SO(3) and hash(sl.SO(3)) == hash(sl.SO(3))
    assert sl.O(3) != sl.SO(3)
    assert sl.Lorentz() != sl.SO13p()
    assert sl.Sn(3) != sl.Z(3)
    assert sl.SO(3) != "SO(3)"
    with pytest.raises(ValueError):
        sl.O(3).discrete[0][0, 0] = 2.0


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: Group("so(3)"), sl.SymlieTypeError, "algebra must be a LieAlgebra"),
        (lambda: Group(sl.se(2)), sl.SymlieValueError, "linear Lie algebra"),
        (lambda: Group(sl.so(2), [np.zeros((2, 2))]), sl.SymlieValueError, r"discrete\[0\] is singular"),
        (lambda: Group(sl.so(2), [np.zeros((2, 3))]), sl.ShapeError, r"discrete\[0\] must be a square"),
        (lambda: Group(sl.so(2), [np.eye(2), np.eye(3)]), sl.ShapeError, "disagree on the matrix size"),
        (lambda: Group(sl.so(2), n=3), sl.ShapeError, "disagree"),
        (lambda: Group(None, [[[np.nan, 0.0], [0.0, 1.0]]]), sl.SymlieValueError, r"discrete\[0\] contains NaN"),
        (lambda: Group(None, [np.eye(2)[0]]), sl.ShapeError, r"discrete\[0\] must have 2 dimensions"),
        (lambda: Group(), sl.SymlieValueError, "needs an algebra"),
        (lambda: Group(n=0), sl.SymlieValueError, "n must be >= 1"),
        (lambda: Group(n=3, blocks=(1, 1)), sl.SymlieValueError, "blocks"),
        (lambda: sl.SO(3) * 3, sl.SymlieTypeError, "Group by a Group"),
        (lambda: sl.SO(3).sample("seed"), sl.SymlieTypeError, "rng"),
        (lambda: sl.Sn(0), sl.SymlieValueError, "n must be >= 1"),
        (lambda: sl.Z(2.5), sl.SymlieTypeError, "n must be an integer"),
        (lambda: sl.D(-1), sl.SymlieValueError, "n must be >= 1"),
    ],
    ids=[
        "algebra-type",
        "affine-algebra",
        "singular",
        "non-square",
        "sizes-disagree",
        "n-disagrees",
        "nan",
        "1-D-generator",
        "nothing",
        "n-zero",
        "blocks",
        "times-int",
        "rng-type",
        "Sn-zero",
        "Z-float",
        "D-negative",
    ],
)
def test_bad_groups_raise_errors_naming_the_argument(make, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        make()


# ------------------------------------------------------------------ symmetric functions (symlie.testing)
POINTS = np.random.default_rng(3).normal(size=(12, 3))


def sq_norm(x: np.ndarray) -> np.ndarray:
    return np.sum(x**2, axis=1)


def radial_field(x: np.ndarray) -> np.ndarray:
    return x * np.sum(x**2, axis=1, keepdims=True)


def test_invariant_and_equivariant_functions_of_groups() -> None:
    O3 = sl.O(3)
    assert assert_symmetric(sq_norm, O3, POINTS) <= 1e-12
    assert assert_symmetric(radial_field, O3, POINTS, output_rep=sl.V(O3)) <= 1e-12
    assert assert_symmetric(radial_field, O3, POINTS, output_rep="vector_field") <= 1e-12
    X4 = np.random.default_rng(4).normal(size=(12, 4))
    assert assert_symmetric(lambda x: np.einsum("ni,ij,nj->n", x, ETA, x), sl.Lorentz(), X4) <= 1e-10
    with pytest.raises(AssertionError, match="not symmetric: relative error"):
        assert_symmetric(lambda x: np.sum(x**2, axis=1), sl.SO13p(), X4)
    with pytest.raises(AssertionError, match="not symmetric"):
        assert_symmetric(lambda x: x[:, 0], O3, POINTS)


def test_input_representation_acts_on_point_clouds() -> None:
    G = sl.O(3)
    pairs = np.random.default_rng(5).normal(size=(10, 6))
    distance = lambda x: np.linalg.norm(x[:, :3] - x[:, 3:], axis=1)  # noqa: E731
    assert assert_symmetric(distance, G, pairs, input_rep=2 * sl.V(G)) <= 1e-12
    difference = lambda x: x[:, :3] - x[:, 3:]  # noqa: E731
    assert assert_symmetric(difference, G, pairs, input_rep=2 * sl.V(G), output_rep=sl.V(G)) <= 1e-12


def test_discrete_symmetry_is_checked_through_every_generator() -> None:
    cyclic = lambda x: x[:, 0] * x[:, 1] ** 2 + x[:, 1] * x[:, 2] ** 2 + x[:, 2] * x[:, 0] ** 2  # noqa: E731
    assert assert_symmetric(cyclic, sl.Z(3), POINTS) <= 1e-12
    with pytest.raises(AssertionError):
        assert_symmetric(cyclic, sl.D(3), POINTS)  # the reflection reverses the cycle


def test_flows_of_linear_affine_and_polynomial_algebras() -> None:
    assert assert_symmetric(radial_field, sl.so(3), POINTS, output_rep="vector_field") <= 1e-12
    pairs = np.random.default_rng(6).normal(size=(10, 4))
    distance = lambda x: np.sum((x[:, :2] - x[:, 2:]) ** 2, axis=1)  # noqa: E731
    assert assert_symmetric(distance, sl.se(2).copies(2), pairs) <= 1e-12
    constant = lambda x: np.tile([1.0, 2.0, 3.0], (len(x), 1))  # noqa: E731
    assert assert_symmetric(constant, sl.t(3), POINTS, output_rep="vector_field") == 0.0
    with pytest.raises(AssertionError):
        assert_symmetric(constant, sl.se(3), POINTS, output_rep="vector_field")
    # v(x) = (0, x0^2) as a polynomial field: x0 is invariant, and v is invariant under its own flow
    library = sl.PolynomialLibrary(2, 2)
    field = np.zeros((1, 2, len(library)))
    field[0, 1, library.index([[2, 0]])[0]] = 1.0
    shear = sl.LieAlgebra(field, library=library)
    X2 = POINTS[:, :2]
    assert assert_symmetric(lambda x: x[:, 0], shear, X2) <= 1e-12
    assert (
        assert_symmetric(lambda x: np.stack([0 * x[:, 0], x[:, 0] ** 2], 1), shear, X2, output_rep="vector_field")
        <= 1e-10
    )
    with pytest.raises(AssertionError):
        assert_symmetric(lambda x: x[:, 1], shear, X2)
    # v(x) = (x0^2, x0 x1) flows along rays, x(t) = x / (1 - t x0): the slope x1 / x0 is invariant
    field = np.zeros((1, 2, len(library)))
    field[0, 0, library.index([[2, 0]])[0]] = field[0, 1, library.index([[1, 1]])[0]] = 1.0
    rays = sl.LieAlgebra(field, library=library)
    assert assert_symmetric(lambda x: x[:, 1] / x[:, 0], rays, X2) <= 1e-10


class FakeTensor:
    """Stands in for a torch tensor: the helper calls .detach().cpu().numpy()."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def detach(self) -> FakeTensor:
        return self

    def cpu(self) -> FakeTensor:
        return self

    def numpy(self) -> np.ndarray:
        return self.values


def test_float32_data_and_tensor_outputs() -> None:
    X32 = POINTS.astype(np.float32)
    error = assert_symmetric(lambda x: FakeTensor(sq_norm(x)), sl.SO(3), X32)
    assert 0.0 < error <= 1e-5  # float32 rounding, judged by the float32 tolerance
    with pytest.raises(AssertionError, match="NaN"):
        assert_symmetric(lambda x: np.full(len(x), np.nan), sl.SO(3), POINTS)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        (("f", sl.SO(3), POINTS), {}, sl.SymlieTypeError, "f must be a callable"),
        ((sq_norm, "SO(3)", POINTS), {}, sl.SymlieTypeError, "group_or_algebra must be"),
        ((sq_norm, sl.SO(3), POINTS[:, :2]), {}, sl.ShapeError, r"X must have shape \(n_samples, 3\)"),
        ((sq_norm, sl.SO(3), POINTS[0]), {}, sl.ShapeError, "X must have shape"),
        ((sq_norm, sl.SO(3), np.full((2, 3), np.inf)), {}, sl.SymlieValueError, "X contains NaN"),
        ((sq_norm, sl.SO(3), POINTS), {"output_rep": "tangent"}, sl.SymlieValueError, "output_rep must be"),
        ((sq_norm, sl.SO(3), POINTS), {"output_rep": sl.V(sl.O(3))}, sl.GroupMismatchError, "O"),
        ((sq_norm, sl.SO(3), POINTS), {"output_rep": sl.V(sl.SO(3))}, sl.ShapeError, "output_rep.size"),
        ((sq_norm, sl.SO(3), POINTS), {"output_rep": "vector_field"}, sl.ShapeError, "vector_field"),
        ((lambda x: x[:2], sl.SO(3), POINTS), {}, sl.SymlieValueError, "one row per point"),
        ((sq_norm, sl.se(3), POINTS), {"input_rep": sl.V(sl.SO(3))}, sl.SymlieTypeError, "need a Group"),
        ((sq_norm, sl.SO(3), POINTS), {"n_samples": 0}, sl.SymlieValueError, "n_samples"),
    ],
    ids=[
        "f",
        "group",
        "width",
        "1-D",
        "inf",
        "output-str",
        "output-group",
        "output-size",
        "vector-size",
        "rows",
        "algebra-input-rep",
        "n_samples",
    ],
)
def test_assert_symmetric_rejects_bad_arguments(args: tuple, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        assert_symmetric(*args, **kwargs)
