r"""Search for one missing dimensional constant (Villar et al. 2023, "Towards fully covariant machine learning").

When a units-covariant model fits badly, or cannot be formed at all, the data may depend on a constant that is
not among the inputs. For every candidate units :math:`d` (integer exponents up to ``max_exponent`` on each base
unit) the constant ``C`` is appended to the inputs; it either forms a new Pi group :math:`C^p x^w`
(:math:`A w = -p d`) or supplies the target's missing units in the prefactor. Its value is fixed by a convention
(the new group has median 1 on the training data; a constant that only enters the prefactor makes the
dimensionless target average to zero in log), and each candidate is scored by cross-validated RMSE of the
log-target. Candidates whose features coincide on the data (they differ by powers of inputs that are constant in
the data, e.g. ``h`` and ``h / c`` when ``c`` is an input) form one class and are scored once.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import product
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import SplineTransformer

from .._errors import SymlieValueError
from .._validation import as_float_array, check_positive_int
from ._dimensions import DimensionMatrix, UnitsSpec, dimension_matrix
from ._lattice import format_monomial, integer_kernel, reduce_against, sparsest_solution
from ._pi import log_monomials, reduced_kernel

__all__ = ["DimensionalConstant", "default_search_estimator", "find_dimensional_constant"]


def default_search_estimator() -> Any:
    """The fast, smooth regressor used to score candidates: cubic splines (linear extrapolation) and a ridge."""
    return make_pipeline(SplineTransformer(n_knots=8, degree=3, extrapolation="linear"), Ridge(alpha=1e-6))


@dataclass(frozen=True)
class DimensionalConstant:
    r"""The best constant found by :func:`find_dimensional_constant`.

    Attributes
    ----------
    units : ndarray of int64, shape (n_base_units,)
        Exponents of the constant's units over ``dimensions.base_units`` (the reported representative of its class).
    units_name : str
        E.g. ``'kg m^2 s^-1'``.
    value : float
        The constant's value in the units of the data, fixed by the convention described in the module.
    name : str
        The constant's variable name (``'C'`` by default).
    group : str or None
        The new Pi group it forms (``None`` when it only enters the prefactor).
    score : float
        Cross-validated RMSE of the log-target with the constant.
    plain_score : float
        The same for the plain model: the units-covariant model without the constant when it exists, otherwise
        the base estimator on ``log|X|`` (not covariant).
    gain : float
        ``plain_score - score`` (positive when the constant helps).
    equivalent : dict of str to float
        Every candidate units in the same class (same features on the data) with the constant's value in them.
    dimensions : DimensionMatrix
        The inputs' dimension matrix with the constant appended as the last variable.
    ranking : list of dict
        The best classes: ``{"units", "score", "group", "n_equivalent"}``, best first.
    n_candidates, n_classes : int
        Candidate units tried, and distinct classes scored.
    """

    units: np.ndarray
    units_name: str
    value: float
    name: str
    group: str | None
    score: float
    plain_score: float
    gain: float
    equivalent: dict[str, float] = field(repr=False)
    dimensions: DimensionMatrix = field(repr=False)
    ranking: list[dict[str, Any]] = field(repr=False, default_factory=list)
    n_candidates: int = 0
    n_classes: int = 0

    def augment(self, X: Any) -> np.ndarray:
        """``X`` with a last column holding the constant's value, shape (n_samples, n_features + 1)."""
        X = as_float_array(X, "X", shape=(None, self.dimensions.n_variables - 1))
        return np.hstack([X, np.full((len(X), 1), self.value)])

    def units_mapping(self) -> dict[str, dict[str, int]]:
        """``{variable: {base unit: exponent}}`` of the augmented inputs, ready for ``units=``."""
        d = self.dimensions
        return {v: {b: int(d.matrix[j, i]) for j, b in enumerate(d.base_units)} for i, v in enumerate(d.variables)}


@dataclass
class _Candidate:
    units: np.ndarray
    features: np.ndarray  # (N, p) log features
    target: np.ndarray  # (N,) dimensionless log-target
    log_value: float
    group: str | None
    group_exponents: list[int] | None  # over the inputs and the constant (last)

    def signature(self) -> np.ndarray:
        """What identifies the model on the data: the new log-feature up to an affine map, or the target."""
        if self.group_exponents is None:
            return self.target
        column = self.features[:, -1] - self.features[:, -1].mean()
        column = column / np.linalg.norm(column)
        return column * np.sign(column[np.argmax(np.abs(column) > 1e-8)])

    def simplicity(self) -> tuple:
        """Sort key of the reported representative: the simplest group, then the simplest units."""
        g = self.group_exponents or []
        u = self.units
        return (
            abs(g[-1]) if g else 0,
            sum(1 for e in g if e),
            sum(abs(e) for e in g),
            int(np.count_nonzero(u)),
            int(np.abs(u).sum()),
            tuple((-u).tolist()),
        )


def _cv_rmse(estimator: Any, features: np.ndarray, target: np.ndarray, folds: KFold) -> float:
    if features.shape[1] == 0:
        errors = [target[test] - target[train].mean() for train, test in folds.split(target)]
    else:
        errors = []
        for train, test in folds.split(features):
            model = clone(estimator).fit(features[train], target[train])
            errors.append(target[test] - model.predict(features[test]))
    return float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))


def _single_constant_vector(kernel: list[list[int]], column: int) -> tuple[list[int] | None, list[list[int]]]:
    """Unimodular row operations so that only one kernel vector uses ``column``; returns it and the rest."""
    rows = [list(v) for v in kernel]
    with_c = [v for v in rows if v[column] != 0]
    rest = [v for v in rows if v[column] == 0]
    while len(with_c) > 1:
        with_c.sort(key=lambda v: abs(v[column]))
        pivot = with_c[0]
        updated: list[list[int]] = []
        for v in with_c[1:]:
            q = v[column] // pivot[column]
            w = [a - q * b for a, b in zip(v, pivot)]
            (updated if w[column] != 0 else rest).append(w)
        with_c = [pivot, *updated]
    return (with_c[0] if with_c else None), rest


def _candidate(
    dims: DimensionMatrix,
    target: np.ndarray,
    units: np.ndarray,
    logs: np.ndarray,
    log_y: np.ndarray,
    plain_v: list[Fraction] | None,
    old_features: np.ndarray,
    name: str,
) -> _Candidate | None:
    n = dims.n_variables
    ext = dims.matrix.tolist()
    for row, d in zip(ext, units.tolist()):
        row.append(int(d))
    kernel = integer_kernel(ext, n + 1)
    new, rest = _single_constant_vector(kernel, n)
    if new is not None:
        new = [int(x) for x in reduce_against([Fraction(x) for x in new], rest)]
        if new[n] < 0:
            new = [-x for x in new]
        w = np.array(new[:n], dtype=np.float64)
        part = logs @ w
        if np.ptp(part) <= 1e-9 * max(1.0, float(np.max(np.abs(part)))):
            return None  # the group is made of constants only: nothing new
        log_value = -float(np.median(part)) / new[n]
        features = np.column_stack([old_features, new[n] * log_value + part])
        group = format_monomial(new, [*dims.variables, name])
        new_list = new
    else:
        features, group, log_value = old_features, None, 0.0
        new_list = None
    if plain_v is not None:
        if new is None:
            return None  # the constant forms no group and the target needs none: the plain model again
        v = plain_v + [Fraction(0)]
    else:
        found = sparsest_solution(ext, target.tolist(), list(range(n + 1)), kernel, n + 1)
        if found is None:
            return None
        v = found
    v_in = np.array([float(x) for x in v[:n]])
    ratio = log_y - logs @ v_in
    if new is None:  # C only in the prefactor: choose it so that the log-ratio averages to zero
        log_value = float(np.mean(ratio)) / float(v[n])
    return _Candidate(units, features, ratio - float(v[n]) * log_value, log_value, group, new_list)


def find_dimensional_constant(
    X: Any,
    y: Any,
    *,
    units: Any,
    target_units: UnitsSpec = None,
    base_estimator: Any = None,
    max_exponent: int = 2,
    n_splits: int = 3,
    seed: int = 0,
    prefer: UnitsSpec = None,
    name: str = "C",
    top: int = 10,
) -> DimensionalConstant:
    r"""Search the units of one missing dimensional constant and fit its value.

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features)
        The inputs (columns that are constant in the data, such as known physical constants, are allowed).
    y : array_like of shape (n_samples,)
        Non-zero with one sign (the log-target is modelled).
    units : DimensionMatrix or anything :func:`dimension_matrix` accepts
    target_units : units spec, optional
    base_estimator : regressor, optional
        Scores each candidate; default :func:`default_search_estimator` (fast smooth splines).
    max_exponent : int, default 2
        Candidate units have exponents in ``[-max_exponent, max_exponent]`` on each base unit (``5^k - 1``
        candidates for ``k`` base units).
    n_splits : int, default 3
        Folds of the shuffled cross-validation (seeded by ``seed``).
    seed : int, default 0
    prefer : units spec, optional
        Report the constant in these units when they are in the winning class (e.g. ``"J s"``); a
        ``UserWarning`` says so when they are not.
    name : str, default "C"
    top : int, default 10
        Length of ``ranking``.

    Returns
    -------
    DimensionalConstant

    Raises
    ------
    SymlieValueError
        If ``y`` has zeros or both signs, or no candidate gives a usable model.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> l = rng.uniform(0.5, 2.0, 60)
    >>> tau = 2 * np.pi * np.sqrt(l / 9.81)  # the data hide g
    >>> found = find_dimensional_constant(l[:, None], tau, units={"l": "m"}, target_units="s", max_exponent=2)
    >>> found.units_name, found.group, bool(np.isclose(found.value, 9.81 / (2 * np.pi) ** 2))
    ('m s^-2', None, True)
    """
    X = as_float_array(X, "X", ndim=2)
    y = as_float_array(y, "y", shape=(X.shape[0],))
    max_exponent = check_positive_int(max_exponent, "max_exponent")
    n_splits = check_positive_int(n_splits, "n_splits", minimum=2)
    if np.any(y == 0) or not (np.all(y > 0) or np.all(y < 0)):
        raise SymlieValueError("y must be non-zero with one sign: the search models log|y|")
    dims = dimension_matrix(units)
    if dims.n_variables != X.shape[1]:
        raise SymlieValueError(f"units describes {dims.n_variables} variables but X has {X.shape[1]} columns")
    if name in dims.variables:
        raise SymlieValueError(f"name {name!r} is already an input; pass another name")
    dims = dims.with_base_units(target_units)
    target = dims.vector(target_units, what="target_units")
    estimator = default_search_estimator() if base_estimator is None else base_estimator
    folds = KFold(n_splits=n_splits, shuffle=True, random_state=seed)
    log_y = np.log(np.abs(y))
    n = dims.n_variables
    old = reduced_kernel(dims)
    logs = log_monomials(X, np.eye(n), "X")
    old_features = logs @ np.array(old, dtype=np.float64).reshape(len(old), n).T
    old_features = old_features[:, np.ptp(old_features, axis=0) > 1e-9 * (1 + np.abs(old_features).max(axis=0))]
    plain_v = sparsest_solution(dims.as_lists(), target.tolist(), list(range(n)), old, n)
    if plain_v is not None:
        plain_target = log_y - logs @ np.array([float(x) for x in plain_v])
        plain_score = _cv_rmse(estimator, old_features, plain_target, folds)
    else:
        varying = logs[:, np.ptp(logs, axis=0) > 0]
        plain_score = _cv_rmse(estimator, varying, log_y, folds)

    classes: list[tuple[_Candidate, list[_Candidate]]] = []
    signatures: list[np.ndarray] = []
    n_candidates = 0
    for exponents in product(range(-max_exponent, max_exponent + 1), repeat=len(dims.base_units)):
        units_vec = np.array(exponents, dtype=np.int64)
        if not units_vec.any():
            continue
        n_candidates += 1
        cand = _candidate(dims, target, units_vec, logs, log_y, plain_v, old_features, name)
        if cand is None:
            continue
        signature = cand.signature()
        for (head, members), head_signature in zip(classes, signatures):
            if (head.group_exponents is None) == (cand.group_exponents is None) and np.allclose(
                head_signature, signature, rtol=1e-8, atol=1e-8
            ):
                members.append(cand)
                break
        else:
            classes.append((cand, [cand]))
            signatures.append(signature)
    if not classes:
        raise SymlieValueError(
            "no candidate constant gives a units-covariant model; raise max_exponent or check target_units"
        )
    scored = sorted(
        ((_cv_rmse(estimator, head.features, head.target, folds), i) for i, (head, _) in enumerate(classes)),
        key=lambda t: (t[0], t[1]),
    )

    best_score, best_index = scored[0]
    members = sorted(classes[best_index][1], key=_Candidate.simplicity)
    chosen = members[0]
    if prefer is not None:
        wanted = dims.vector(prefer, what="prefer")
        match = next((m for m in members if np.array_equal(m.units, wanted)), None)
        if match is None:
            warnings.warn(
                f"prefer={prefer!r} is not in the winning class of equivalent units "
                f"({', '.join(dims.format(m.units.tolist()) for m in members[:6])}, ...); reporting "
                f"{dims.format(chosen.units.tolist())}",
                UserWarning,
                stacklevel=2,
            )
        else:
            chosen = match
    ext = dims.with_variable(name, {b: int(e) for b, e in zip(dims.base_units, chosen.units)})
    ranking = []
    for score, i in scored[:top]:
        head = min(classes[i][1], key=_Candidate.simplicity)
        ranking.append(
            {
                "units": dims.format(head.units.tolist()),
                "score": score,
                "group": head.group,
                "n_equivalent": len(classes[i][1]),
            }
        )
    return DimensionalConstant(
        units=chosen.units,
        units_name=dims.format(chosen.units.tolist()),
        value=float(np.exp(chosen.log_value)),
        name=name,
        group=chosen.group,
        score=best_score,
        plain_score=plain_score,
        gain=plain_score - best_score,
        equivalent={dims.format(m.units.tolist()): float(np.exp(m.log_value)) for m in members},
        dimensions=ext,
        ranking=ranking,
        n_candidates=n_candidates,
        n_classes=len(classes),
    )
