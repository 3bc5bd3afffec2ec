r"""Assertions that measure symmetry: equivariant linear maps and symmetric functions.

Both helpers *return* the measured relative error (so a test can log or compare it) and raise
:class:`AssertionError` with the error and the tolerance when it is too large. The default tolerance depends on
the dtype of the data checked: ``1e-10`` for float64, ``1e-5`` for float32, ``1e-2`` for float16.

Random group elements come from :meth:`symlie.Group.sample` (continuous and discrete parts); in addition every
discrete generator is checked once (times a random element), so every component of the group is exercised.

Examples
--------
>>> import numpy as np
>>> import symlie as sl
>>> from symlie.testing import assert_equivariant, assert_symmetric
>>> G = sl.SO(3)
>>> cross = sl.equivariant_basis(sl.V(G) ** 2, sl.V(G))   # the cross product
>>> assert_equivariant(cross, sl.V(G) ** 2, sl.V(G)) < 1e-12
True
>>> X = np.random.default_rng(0).normal(size=(10, 3))
>>> assert_symmetric(lambda x: np.sum(x**2, axis=1), G, X) < 1e-12
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from scipy.linalg import expm

from ._algebra import LieAlgebra
from ._errors import GroupMismatchError, ShapeError, SymlieTypeError, SymlieValueError
from ._groups import Group
from ._reps import Rep
from ._validation import check_positive_int, make_rng

__all__ = ["assert_equivariant", "assert_symmetric", "default_rtol"]

#: Default relative tolerance per floating-point precision (bytes per real number).
_RTOL_BY_ITEMSIZE = {2: 1e-2, 4: 1e-5, 8: 1e-10}


def default_rtol(*dtypes: Any) -> float:
    """The default tolerance for data of the given dtypes: that of the least precise one.

    Parameters
    ----------
    *dtypes : numpy dtype-like
        Non-floating dtypes (integers, bool) count as float64.

    Returns
    -------
    float
        ``1e-10`` for float64, ``1e-5`` for float32, ``1e-2`` for float16.

    Examples
    --------
    >>> default_rtol("float64"), default_rtol("float64", "float32")
    (1e-10, 1e-05)
    """
    tolerance = _RTOL_BY_ITEMSIZE[8]
    for dtype in dtypes:
        dtype = np.dtype(dtype)
        if np.issubdtype(dtype, np.complexfloating):
            itemsize = dtype.itemsize // 2
        elif np.issubdtype(dtype, np.floating):
            itemsize = dtype.itemsize
        else:
            itemsize = 8
        tolerance = max(tolerance, _RTOL_BY_ITEMSIZE.get(min(itemsize, 8), _RTOL_BY_ITEMSIZE[2]))
    return tolerance


def _check_rtol(rtol: float | None, *dtypes: Any) -> float:
    if rtol is None:
        return default_rtol(*dtypes)
    if isinstance(rtol, bool) or not isinstance(rtol, int | float | np.floating) or not rtol >= 0:
        raise SymlieValueError(f"rtol must be a non-negative number or None, got {rtol!r}")
    return float(rtol)


def _relative(difference: np.ndarray, left: np.ndarray, right: np.ndarray) -> float:
    """``||left - right|| / max(||left||, ||right||)``, 0 when both are zero."""
    scale = max(float(np.linalg.norm(left)), float(np.linalg.norm(right)))
    return float(np.linalg.norm(difference)) / scale if scale > 0 else 0.0


def _elements(group: Group, n_samples: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """``n_samples`` random elements, then a random element times each discrete generator."""
    for _ in range(n_samples):
        yield group.sample(rng)
    for h in group.discrete:
        yield group.sample(rng) @ h


def _rep_group(reps: dict[str, Rep | None]) -> Group | None:
    group: Group | None = None
    owner = ""
    for name, rep in reps.items():
        if rep is None:
            continue
        if not isinstance(rep, Rep):
            raise SymlieTypeError(f"{name} must be a symlie Rep such as V(G) or V(G)**2, got {type(rep).__name__}")
        if rep.group is None:
            continue
        if group is not None and rep.group != group:
            raise GroupMismatchError(f"{name} is a representation of {rep.group.name} but {owner} is of {group.name}")
        group, owner = rep.group, name
    return group


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


# ------------------------------------------------------------------------------------- linear maps
def _as_maps(value: Any, size_out: int, size_in: int) -> np.ndarray:
    """The maps to check as a stack of shape (k, size_out, size_in)."""
    array = _to_numpy(value)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise SymlieTypeError(f"W_or_basis must be a real numeric array, got dtype {array.dtype}")
    if array.ndim == 2 and array.shape == (size_out, size_in):
        maps = array[None]
    elif array.ndim == 2 and array.shape[0] == size_out * size_in:
        maps = array.T.reshape(array.shape[1], size_out, size_in)
    elif array.ndim == 3 and array.shape[1:] == (size_out, size_in):
        maps = array
    else:
        raise ShapeError(
            f"W_or_basis must be a map of shape ({size_out}, {size_in}), a basis of shape ({size_out * size_in}, k)"
            f" or a stack of shape (k, {size_out}, {size_in}) for rep_out.size={size_out}, rep_in.size={size_in}; "
            f"got {array.shape}"
        )
    if not np.all(np.isfinite(maps)):
        raise SymlieValueError("W_or_basis contains NaN or infinite values")
    return maps


def assert_equivariant(
    W_or_basis: Any,
    rep_in: Rep,
    rep_out: Rep,
    *,
    n_samples: int = 3,
    rng: int | np.random.Generator | None = 0,
    rtol: float | None = None,
) -> float:
    r"""Check :math:`\rho_{out}(g)\, W = W\, \rho_{in}(g)` for random group elements and return the error.

    The error of one map and one element is

    .. math:: e = \frac{\|\rho_{out}(g) W - W \rho_{in}(g)\|_F}
                       {\max(\|\rho_{out}(g) W\|_F, \|W \rho_{in}(g)\|_F)}

    (``0`` for ``W = 0``); the largest over maps and elements is compared with ``rtol``.

    Parameters
    ----------
    W_or_basis : array_like or torch.Tensor
        One map of shape ``(rep_out.size, rep_in.size)``, a basis of shape ``(rep_out.size * rep_in.size, k)``
        whose columns are maps flattened row-major (as returned by :func:`symlie.equivariant_basis`), or a stack
        of shape ``(k, rep_out.size, rep_in.size)``.
    rep_in, rep_out : Rep
        Representations of the same group (or :data:`symlie.Scalar`).
    n_samples : int, default 3
        Number of random elements; each discrete generator is checked in addition.
    rng : int, numpy.random.Generator or None, default 0
    rtol : float, optional
        Tolerance; by default from the dtype of ``W_or_basis`` (see :func:`default_rtol`).

    Returns
    -------
    float
        The largest relative error measured.

    Raises
    ------
    AssertionError
        If the error exceeds ``rtol``; the message shows both.
    ShapeError, SymlieTypeError, SymlieValueError, GroupMismatchError
        For bad arguments.

    Examples
    --------
    >>> import numpy as np
    >>> import symlie as sl
    >>> G = sl.O(3)
    >>> assert_equivariant(np.eye(3), sl.V(G), sl.V(G))
    0.0
    >>> assert_equivariant(np.diag([1.0, 2.0, 3.0]), sl.V(G), sl.V(G))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    AssertionError: not equivariant: relative error ... > rtol 1.0e-10 ...
    """
    group = _rep_group({"rep_in": rep_in, "rep_out": rep_out})
    n_samples = check_positive_int(n_samples, "n_samples")
    maps = _as_maps(W_or_basis, rep_out.size, rep_in.size)
    tolerance = _check_rtol(rtol, maps.dtype)
    generator = make_rng(rng)
    if group is None:  # Scalar -> Scalar: every map commutes with the trivial action
        return 0.0
    maps = maps.astype(np.float64)
    worst, where = 0.0, (0, 0)
    for sample, g in enumerate(_elements(group, n_samples, generator)):
        left = rep_out.rho(g) @ maps
        right = maps @ rep_in.rho(g)
        for column in range(len(maps)):
            error = _relative(left[column] - right[column], left[column], right[column])
            if error > worst:
                worst, where = error, (sample, column)
    if worst > tolerance:
        raise AssertionError(
            f"not equivariant: relative error {worst:.3e} > rtol {tolerance:.1e} (worst at element {where[0]}, "
            f"map {where[1]}) for {rep_in!r} -> {rep_out!r}"
        )
    return worst


# ------------------------------------------------------------------------------------------ functions
def _check_points(X: Any) -> np.ndarray:
    array = _to_numpy(X)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise SymlieTypeError(f"X must be a real numeric array, got dtype {array.dtype}")
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
    if array.ndim != 2 or array.shape[0] == 0:
        raise ShapeError(f"X must have shape (n_samples, n_features) with n_samples >= 1, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise SymlieValueError("X contains NaN or infinite values")
    return array


Action = tuple[np.ndarray, np.ndarray]  # moved points (N, n) and the Jacobian of the move, (n, n) or (N, n, n)


def _flow(algebra: LieAlgebra, X: np.ndarray, rng: np.random.Generator) -> Action:
    """Time-one flow of a random element of a polynomial vector-field algebra, with its Jacobian."""
    from scipy.integrate import solve_ivp  # only needed here; keeps ``import symlie.testing`` light

    q = algebra.dim
    norms = np.linalg.norm(algebra.basis.reshape(q, -1), axis=1)
    coeffs = rng.normal(size=q) / (norms * np.sqrt(q))
    # Keep the flow well inside its domain of existence: fields of degree d grow like |x|^d.
    coeffs *= 0.5 / (1.0 + float(np.abs(X).max())) ** max(algebra.field_degree - 1, 0)
    field = np.tensordot(coeffs, algebra.basis, axes=1)  # (n, n_terms)
    N, n = X.shape

    def rhs(_: float, state: np.ndarray) -> np.ndarray:
        points = state[: N * n].reshape(N, n)
        jac = state[N * n :].reshape(N, n, n)
        velocity = algebra.library.evaluate(points) @ field.T
        dfield = np.einsum("il,nlj->nij", field, algebra.library.jacobian(points))
        return np.concatenate([velocity.reshape(-1), (dfield @ jac).reshape(-1)])

    start = np.concatenate([X.reshape(-1), np.broadcast_to(np.eye(n), (N, n, n)).reshape(-1)])
    solution = solve_ivp(rhs, (0.0, 1.0), start, method="DOP853", rtol=1e-13, atol=1e-13)
    if not solution.success:
        raise SymlieValueError(
            f"the flow of {algebra.name} could not be integrated from X ({solution.message}); use points closer "
            "to the origin"
        )
    end = solution.y[:, -1]
    return end[: N * n].reshape(N, n), end[N * n :].reshape(N, n, n)


def _algebra_actions(algebra: LieAlgebra, X: np.ndarray, n_samples: int, rng: np.random.Generator) -> Iterator[Action]:
    q = algebra.dim
    for _ in range(n_samples if q else 0):
        if algebra.kind == "polynomial":
            yield _flow(algebra, X, rng)
            continue
        norms = np.linalg.norm(algebra.basis.reshape(q, -1), axis=1)
        element = np.tensordot(rng.normal(size=q) / (norms * np.sqrt(q)), algebra.basis, axes=1)
        if algebra.kind == "linear":
            g = expm(element)
            yield X @ g.T, g
        else:  # affine [b | A]: exp of [[A, b], [0, 0]] is [[g, c], [0, 1]] and x -> g x + c
            n = algebra.n
            augmented = np.zeros((n + 1, n + 1))
            augmented[:n, :n] = element[:, 1:]
            augmented[:n, n] = element[:, 0]
            moved = expm(augmented)
            yield X @ moved[:n, :n].T + moved[:n, n], moved[:n, :n]


def assert_symmetric(
    f: Callable[[np.ndarray], Any],
    group_or_algebra: Group | LieAlgebra,
    X: Any,
    *,
    input_rep: Rep | None = None,
    output_rep: Rep | str | None = None,
    rtol: float | None = None,
    rng: int | np.random.Generator | None = 0,
    n_samples: int = 3,
) -> float:
    r"""Check :math:`f(g \cdot x) = \rho_{out}(g) f(x)` at the points ``X`` for random ``g`` and return the error.

    With ``output_rep=None`` this checks invariance, :math:`f(g \cdot x) = f(x)`. The error of one element is

    .. math:: e = \frac{\|F(gX) - \rho_{out}(g) F(X)\|_F}{\max(\|F(gX)\|_F, \|\rho_{out}(g) F(X)\|_F)}

    over all points at once; the largest over elements is compared with ``rtol``.

    Parameters
    ----------
    f : callable
        Maps an array of shape ``(n_samples, n_features)`` (same dtype as ``X``) to an array (or torch tensor)
        of shape ``(n_samples, ...)``; trailing axes are flattened row-major.
    group_or_algebra : Group or LieAlgebra
        A :class:`~symlie.Group` acts by ``x -> g x`` (or ``input_rep.rho(g) x``) with elements from
        :meth:`~symlie.Group.sample`, every discrete generator included once. A linear algebra acts by
        ``expm(A)``; an affine one by ``x -> g x + c``; a polynomial vector-field algebra by the time-one flow
        of a random field (integrated to ~1e-13).
    X : array_like of shape (n_samples, n_features)
        Points, finite; float32 points give float32 inputs to ``f``.
    input_rep : Rep, optional
        How a group acts on ``X`` (``n_features == input_rep.size``); default the defining representation.
        Only with a Group.
    output_rep : Rep, "vector_field" or None
        How outputs transform: a :class:`~symlie.Rep` of the group; ``"vector_field"`` for outputs that move
        like tangent vectors (by the Jacobian of the input action, so ``f(g x) = Dg(x) f(x)``); ``None`` for
        invariance.
    rtol : float, optional
        Tolerance; by default from the dtypes of ``X`` and of the outputs (see :func:`default_rtol`).
    rng : int, numpy.random.Generator or None, default 0
    n_samples : int, default 3
        Number of random elements (discrete generators are checked in addition).

    Returns
    -------
    float
        The largest relative error measured.

    Raises
    ------
    AssertionError
        If the error exceeds ``rtol`` or ``f`` returns non-finite values.
    ShapeError, SymlieTypeError, SymlieValueError, GroupMismatchError
        For bad arguments.

    Examples
    --------
    >>> import numpy as np
    >>> import symlie as sl
    >>> X = np.random.default_rng(0).normal(size=(20, 3))
    >>> def field(x):
    ...     return x * np.sum(x**2, axis=1, keepdims=True)
    >>> assert_symmetric(field, sl.O(3), X, output_rep=sl.V(sl.O(3))) < 1e-12
    True
    >>> assert_symmetric(field, sl.so(3), X, output_rep="vector_field") < 1e-12
    True
    >>> assert_symmetric(lambda x: x[:, 0], sl.t(3), X)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    AssertionError: not symmetric: relative error ... > rtol 1.0e-10 ...
    """
    if not callable(f):
        raise SymlieTypeError(f"f must be a callable mapping (n_samples, n_features) arrays, got {type(f).__name__}")
    if isinstance(output_rep, str) and output_rep != "vector_field":
        raise SymlieValueError(f"output_rep must be a Rep, 'vector_field' or None, got {output_rep!r}")
    n_samples = check_positive_int(n_samples, "n_samples")
    points = _check_points(X)
    generator = make_rng(rng)
    if isinstance(group_or_algebra, LieAlgebra) and group_or_algebra.kind == "linear":
        group_or_algebra = Group(group_or_algebra, name=group_or_algebra.name)
    output = output_rep if isinstance(output_rep, Rep) else None
    if isinstance(group_or_algebra, Group):
        group = group_or_algebra
        reps_group = _rep_group({"input_rep": input_rep, "output_rep": output})
        if reps_group is not None and reps_group != group:
            raise GroupMismatchError(
                f"the representations are of {reps_group.name} but group_or_algebra is {group.name}"
            )
        size_in = input_rep.size if input_rep is not None else group.n
        if points.shape[1] != size_in:
            raise ShapeError(f"X must have shape (n_samples, {size_in}) for {group.name}, got {points.shape}")
        actions = []
        for g in _elements(group, n_samples, generator):
            move = input_rep.rho(g) if input_rep is not None else g
            actions.append((points @ move.T, move, output.rho(g) if output is not None else None))
    elif isinstance(group_or_algebra, LieAlgebra):
        algebra = group_or_algebra
        if input_rep is not None or output is not None:
            raise SymlieTypeError(
                "input_rep and Rep-valued output_rep need a Group; wrap a linear algebra as sl.Group(algebra) or "
                "use output_rep='vector_field'"
            )
        if points.shape[1] != algebra.n:
            raise ShapeError(f"X must have shape (n_samples, {algebra.n}) for {algebra.name}, got {points.shape}")
        actions = [(moved, jac, None) for moved, jac in _algebra_actions(algebra, points, n_samples, generator)]
    else:
        raise SymlieTypeError(
            f"group_or_algebra must be a Group or a LieAlgebra, got {type(group_or_algebra).__name__}"
        )

    before = _outputs(f, points)
    tolerance = _check_rtol(rtol, points.dtype, before.dtype)
    if isinstance(output, Rep) and before.shape[1] != output.size:
        raise ShapeError(f"f returns {before.shape[1]} values per point but output_rep.size is {output.size}")
    if output_rep == "vector_field" and before.shape[1] != points.shape[1]:
        raise ShapeError(
            f"output_rep='vector_field' needs f to return {points.shape[1]} values per point, got {before.shape[1]}"
        )
    reference = before.astype(np.result_type(before.dtype, np.float64))
    worst = 0.0
    for moved, jacobian, rho in actions:
        after = _outputs(f, moved.astype(points.dtype)).astype(reference.dtype)
        if after.shape != before.shape:
            raise AssertionError(f"f returned shape {after.shape} on moved points but {before.shape} on X")
        if output_rep == "vector_field":
            expected = reference @ jacobian.T if jacobian.ndim == 2 else np.einsum("nij,nj->ni", jacobian, reference)
        else:
            expected = reference @ rho.T if rho is not None else reference
        worst = max(worst, _relative(after - expected, after, expected))
    if worst > tolerance:
        raise AssertionError(
            f"not symmetric: relative error {worst:.3e} > rtol {tolerance:.1e} under {group_or_algebra!r}"
        )
    return worst


def _outputs(f: Callable[[np.ndarray], Any], points: np.ndarray) -> np.ndarray:
    values = _to_numpy(f(points))
    if values.ndim == 0 or values.shape[0] != points.shape[0]:
        raise SymlieValueError(
            f"f must return an array with one row per point ({points.shape[0]}), got shape {values.shape}"
        )
    if not np.all(np.isfinite(values)):
        raise AssertionError("not symmetric: f returned NaN or infinite values")
    return values.reshape(points.shape[0], -1)
