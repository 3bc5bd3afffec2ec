r"""Derivatives of models for the Lie derivative: autodiff, complex step, finite differences, exact polynomials.

Every model is wrapped in a :class:`Model` that evaluates :math:`F(X)` of shape (n_samples, n_outputs) and its
Jacobian :math:`DF(X)` of shape (n_samples, n_outputs, m) together with an *absolute error estimate* of every entry:

* **torch** modules and functions: reverse mode (``torch.autograd.grad``, one pass per output) when there are
  fewer outputs than inputs, forward mode ``torch.func.jvp`` otherwise, in float64 (a module's floating parameters
  are cast for the call, the module is not changed) or in the module's dtype (``precision="model"``), in chunks of
  points so that 1e5 points fit in memory. Directional derivatives along many fields use ``vmap`` over ``jvp``.
  Error estimate: :math:`64\,\epsilon` (machine epsilon of the working dtype) times the entry's magnitude.
* **numpy** callables: the complex step :math:`\partial_j F = \mathrm{Im}\,F(x + i h e_j) / h` when ``F`` accepts
  complex input and agrees with finite differences on a few points (exact to rounding), otherwise central
  differences with one Richardson extrapolation at steps ``h, 2h, 4h``; the error estimate is the difference of
  the extrapolations at ``h`` and ``2h`` plus the rounding term :math:`\epsilon \max|F| / h`.
* **polynomial** models ``(library, coef)``: the exact Jacobian of :math:`F(x) = W \theta(x)`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._dictionaries import PolynomialLibrary
from ._errors import ShapeError, SymlieTypeError, SymlieValueError
from ._validation import as_float_array

__all__ = ["FieldPlan", "Model", "as_model", "field_plan", "lie_matrix"]

_EPS = float(np.finfo(np.float64).eps)
#: Columns (point, output) per block in the contraction of the Lie matrix (keeps the products in cache).
_CACHE_COLS = 8192
_DERIVATIVES = ("auto", "autodiff", "complex_step", "finite_difference", "exact")


def _is_torch_module(f: Any) -> bool:
    torch = sys.modules.get("torch")  # a torch module exists only if torch was imported
    return torch is not None and isinstance(f, torch.nn.Module)


def _polynomial_parts(f: Any) -> tuple[PolynomialLibrary, np.ndarray] | None:
    """``(library, coef)`` of a polynomial model given as a pair or an object with ``library``/``coef_``."""
    if isinstance(f, tuple) and len(f) == 2 and isinstance(f[0], PolynomialLibrary):
        library, coef = f
    elif isinstance(getattr(f, "library", None), PolynomialLibrary) and hasattr(f, "coef_"):
        library, coef = f.library, f.coef_
    else:
        return None
    W = as_float_array(coef, "coef", ndim=(1, 2))
    W = W.reshape(1, -1) if W.ndim == 1 else W
    if W.shape[1] != len(library):
        raise ShapeError(f"coef must have shape (n_outputs, {len(library)}) for {library!r}, got {W.shape}")
    return library, W


@dataclass(frozen=True)
class Model:
    """A model :math:`F: \\mathbb{R}^m \\to \\mathbb{R}^{n_{out}}` with derivatives and their error estimates.

    Attributes
    ----------
    kind : {"torch", "numpy", "polynomial"}
    method : str
        How derivatives are computed (readable).
    n_features, n_outputs : int
    rel_error : float
        Relative accuracy of one derivative entry (rounding level for exact methods).
    """

    kind: str
    method: str
    n_features: int
    n_outputs: int
    rel_error: float
    _value: Callable[[np.ndarray], np.ndarray]
    _jacobian: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]
    _directional: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    library: PolynomialLibrary | None = None
    coef: np.ndarray | None = None

    def value(self, X: np.ndarray) -> np.ndarray:
        """:math:`F(X)`, ndarray of shape (n_samples, n_outputs)."""
        return self._value(X)

    def jacobian(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:math:`DF(X)` of shape (n_samples, n_outputs, m) and its absolute error estimate (same shape)."""
        J, err = self._jacobian(X)
        J = J.astype(np.float64, copy=False)
        return J, (self.rel_error * (np.abs(J) + _EPS) if err is None else err)

    def directional(self, X: np.ndarray, V: np.ndarray) -> np.ndarray | None:
        """:math:`DF(x_i) V_k(x_i)` of shape (q, n_samples, n_outputs) for fields ``V`` (q, n_samples, m).

        ``None`` when the model has no cheaper route than the Jacobian (numpy and polynomial models).
        """
        return None if self._directional is None else self._directional(X, V)


def _as_2d(values: np.ndarray, n: int, name: str) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim == 1 and values.shape[0] == n:
        return values[:, None]
    if values.ndim == 2 and values.shape[0] == n:
        return values
    raise ShapeError(f"{name} must return shape (n_samples,) or (n_samples, n_outputs), got {values.shape}")


# ------------------------------------------------------------------------------------------------ torch
def _torch_model(f: Any, m: int, chunk_size: int, precision: str = "float64") -> Model:
    import torch
    from torch.func import functional_call, jvp, vmap

    dtype = torch.float64
    if isinstance(f, torch.nn.Module):
        tensors = list(f.named_parameters()) + list(f.named_buffers())
        if precision == "model":
            dtype = next((t.dtype for _, t in tensors if t.is_floating_point()), torch.float64)
        if all(t.dtype == dtype for _, t in tensors if t.is_floating_point()):
            call = f  # already in the working dtype: no parameter copies
        else:
            state = {name: (t.detach().to(dtype) if t.is_floating_point() else t.detach()) for name, t in tensors}

            def call(x: Any) -> Any:
                return functional_call(f, state, (x,))
    else:
        call = f

    probe = call(torch.zeros((2, m), dtype=dtype))
    if not isinstance(probe, torch.Tensor):
        raise SymlieTypeError(f"f must return a torch.Tensor for torch input, got {type(probe).__name__}")
    n_out = 1 if probe.ndim == 1 else int(probe.shape[1])
    dtype_eps = float(torch.finfo(probe.dtype).eps) if probe.is_floating_point() else _EPS
    rel = 64.0 * max(dtype_eps, _EPS)

    def call2(x: Any) -> Any:
        out = call(x)
        return out.reshape(x.shape[0], n_out).to(torch.float64)

    def chunks(X: np.ndarray) -> Any:
        for start in range(0, len(X), chunk_size):
            yield torch.from_numpy(np.ascontiguousarray(X[start : start + chunk_size])).to(dtype)

    def value(X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            parts = [call2(x).numpy() for x in chunks(X)]
        return np.concatenate(parts) if parts else np.zeros((0, n_out))

    def jacobian(X: np.ndarray) -> tuple[np.ndarray, None]:
        # built as (m, n_samples, n_outputs) in memory: the contraction in lie_matrix reads rows J[:, :, i]
        # without copies; the error is the relative rule rel * (|J| + eps), filled in by Model.jacobian
        J_t = np.empty((m, len(X), n_out), dtype=np.float32 if dtype == torch.float32 else np.float64)
        for start, x in zip(range(0, len(X), chunk_size), chunks(X)):
            if n_out <= m:  # one reverse pass per output (rows of a batch are independent)
                with torch.enable_grad():
                    x = x.requires_grad_(True)
                    out = call(x).reshape(len(x), n_out)
                    rows = [
                        torch.autograd.grad(out[:, o].sum(), x, retain_graph=o < n_out - 1)[0] for o in range(n_out)
                    ]
                block = rows[0][:, :, None] if n_out == 1 else torch.stack(rows, dim=2)  # (points, m, n_out)
            else:  # one forward pass per input coordinate
                eye = torch.eye(m, dtype=dtype)
                cols = [jvp(call2, (x,), (eye[j].expand(len(x), m).contiguous(),))[1] for j in range(m)]
                block = torch.stack(cols, dim=1)
            J_t[:, start : start + len(x)] = block.detach().permute(1, 0, 2).numpy()
        return J_t.transpose(1, 2, 0), None

    def directional(X: np.ndarray, V: np.ndarray) -> np.ndarray:
        parts = []
        for start, x in zip(range(0, len(X), chunk_size), chunks(X)):
            tangents = torch.from_numpy(np.ascontiguousarray(V[:, start : start + len(x)])).to(dtype)
            out = vmap(lambda t, x=x: jvp(call2, (x,), (t,))[1])(tangents)
            parts.append(out.detach().numpy())
        return np.concatenate(parts, axis=1)

    method = f"autodiff (torch.func, {str(probe.dtype).replace('torch.', '')})"
    return Model("torch", method, m, n_out, rel, value, jacobian, directional)


# ------------------------------------------------------------------------------------------------ numpy
def _numpy_value(f: Callable[..., Any], m: int) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    probe = np.asarray(f(np.zeros((2, m)) + 0.5))
    n_out = 1 if probe.ndim == 1 else int(probe.shape[-1])

    def value(X: np.ndarray) -> np.ndarray:
        return _as_2d(f(X), len(X), "f").astype(np.float64, copy=False).reshape(len(X), n_out)

    return value, n_out


def _central(value: Callable[[np.ndarray], np.ndarray], X: np.ndarray, h: np.ndarray, j: int) -> np.ndarray:
    step = np.zeros_like(X)
    step[:, j] = h
    return (value(X + step) - value(X - step)) / (2.0 * h[:, None])


def _fd_jacobian(value: Callable[[np.ndarray], np.ndarray], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Central differences with Richardson extrapolation; error = |R(h) - R(2h)| + rounding."""
    N, m = X.shape
    F = value(X)
    fmax = np.max(np.abs(F), axis=1, initial=0.0)
    J = np.zeros((N, F.shape[1], m))
    err = np.zeros_like(J)
    for j in range(m):
        h = _EPS ** (1 / 5) * np.maximum(1.0, np.abs(X[:, j]))
        d1, d2, d4 = (_central(value, X, s * h, j) for s in (1.0, 2.0, 4.0))
        r1, r2 = (4.0 * d1 - d2) / 3.0, (4.0 * d2 - d4) / 3.0
        J[:, :, j] = r1
        err[:, :, j] = np.abs(r1 - r2) + 4.0 * _EPS * (fmax / h)[:, None]
    return J, err


def _complex_jacobian(f: Callable[..., Any], X: np.ndarray, n_out: int) -> np.ndarray:
    N, m = X.shape
    J = np.zeros((N, n_out, m))
    for j in range(m):
        h = 1e-20 * np.maximum(1.0, np.abs(X[:, j]))
        Z = X.astype(np.complex128)
        Z[:, j] += 1j * h
        out = np.asarray(f(Z))
        J[:, :, j] = np.imag(out).reshape(N, n_out) / h[:, None]
    return J


def _accepts_complex(f: Callable[..., Any], X: np.ndarray, value: Callable[..., np.ndarray], n_out: int) -> bool:
    """The complex step is valid when f keeps an imaginary part and matches finite differences."""
    sample = X[: min(len(X), 8)]
    try:
        with np.errstate(all="ignore"):
            out = np.asarray(f(sample.astype(np.complex128) + 1e-20j))
            if not np.iscomplexobj(out) or not np.all(np.isfinite(out)):
                return False
            J = _complex_jacobian(f, sample, n_out)
    except (TypeError, ValueError, AttributeError):
        return False
    Jfd, err = _fd_jacobian(value, sample)
    return bool(np.all(np.abs(J - Jfd) <= 10.0 * err + 1e-7 * (np.abs(Jfd) + 1.0)))


def _numpy_model(f: Callable[..., Any], m: int, derivative: str, X: np.ndarray) -> Model:
    value, n_out = _numpy_value(f, m)
    use_complex = derivative == "complex_step" or (derivative == "auto" and _accepts_complex(f, X, value, n_out))
    if use_complex:

        def jacobian(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            J = _complex_jacobian(f, Y, n_out)
            return J, 8.0 * _EPS * (np.abs(J) + _EPS)

        return Model("numpy", "complex step (h = 1e-20)", m, n_out, 8.0 * _EPS, value, jacobian)

    def fd(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _fd_jacobian(value, Y)

    return Model("numpy", "central differences + Richardson (h = eps^(1/5))", m, n_out, _EPS ** (4 / 5), value, fd)


# ------------------------------------------------------------------------------------------- polynomial
def _polynomial_model(library: PolynomialLibrary, W: np.ndarray) -> Model:
    def value(X: np.ndarray) -> np.ndarray:
        return library.evaluate(X) @ W.T

    def jacobian(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        J = np.einsum("ol,nlj->noj", W, library.jacobian(X))
        return J, 16.0 * _EPS * (np.abs(J) + _EPS)

    return Model(
        "polynomial",
        "exact (monomial coefficients)",
        library.n_features,
        W.shape[0],
        16.0 * _EPS,
        value,
        jacobian,
        None,
        library,
        W,
    )


def as_model(
    f: Any,
    n_features: int,
    X: np.ndarray,
    *,
    derivative: str = "auto",
    chunk_size: int = 65536,
    precision: str = "float64",
) -> Model:
    """Wrap ``f`` (torch module/function, numpy callable or polynomial model) as a :class:`Model`.

    Parameters
    ----------
    f : torch.nn.Module, callable, (PolynomialLibrary, coef) or object with ``library`` and ``coef_``
    n_features : int
        Input dimension ``m``.
    X : ndarray of shape (n_samples, m)
        Points (a few are used to probe complex-step support).
    derivative : {"auto", "autodiff", "complex_step", "finite_difference", "exact"}
        ``"auto"`` picks by the type of ``f``; for numpy callables it uses the complex step when valid.
    chunk_size : int
        Points per autodiff batch.
    precision : {"float64", "model"}
        Torch modules: cast floating parameters to float64 for the call, or keep the module's own dtype.

    Returns
    -------
    Model
    """
    if derivative not in _DERIVATIVES:
        raise SymlieValueError(f"derivative must be one of {_DERIVATIVES}, got {derivative!r}")
    parts = _polynomial_parts(f)
    if parts is not None:
        library, W = parts
        if library.n_features != n_features:
            raise ShapeError(f"f's library has n_features={library.n_features}, the algebra acts on R^{n_features}")
        return _polynomial_model(library, W)
    if derivative == "exact":
        raise SymlieValueError("derivative='exact' needs a polynomial model f = (PolynomialLibrary, coef)")
    if not callable(f):
        raise SymlieTypeError(
            "f must be a torch module, a callable, or a polynomial model (PolynomialLibrary, coef), "
            f"got {type(f).__name__}"
        )
    if _is_torch_module(f) or derivative == "autodiff":
        return _torch_model(f, n_features, chunk_size, precision)
    if derivative in ("complex_step", "finite_difference"):
        return _numpy_model(f, n_features, derivative, X)
    try:  # a numpy callable returns an array for numpy input
        probe = f(np.zeros((2, n_features)) + 0.5)
        numpy_ok = isinstance(probe, np.ndarray | float | list) and np.asarray(probe).dtype.kind in "fiuc"
    except Exception:  # any failure means "not a numpy function"; torch is tried next
        numpy_ok = False
    if numpy_ok:
        return _numpy_model(f, n_features, derivative, X)
    return _torch_model(f, n_features, chunk_size, precision)


# ------------------------------------------------------------------------------------ the Lie matrix
def _terms_t(library: PolynomialLibrary, X: np.ndarray, dtype: Any = np.float64) -> np.ndarray:
    """Field monomials transposed, shape (L, n_samples); degree <= 1 libraries are rows of ``X.T`` (and ones)."""
    exponents = library.exponents
    if exponents.sum(axis=1).max(initial=0) > 1:
        return np.ascontiguousarray(library.evaluate(X).T, dtype=dtype)
    X_t = np.ascontiguousarray(X.T, dtype=dtype)
    if np.array_equal(exponents, np.eye(X.shape[1], dtype=exponents.dtype)):
        return X_t
    out = np.ones((len(exponents), len(X)), dtype=dtype)
    for row, j in zip(*np.nonzero(exponents), strict=True):
        out[row] = X_t[j]
    return out


@dataclass(frozen=True, eq=False)
class FieldPlan:
    """What the contraction of a Jacobian with an action's fields needs, computed once per action.

    Attributes
    ----------
    coef : scipy sparse array or ndarray of shape (q, P)
        The field coefficients of the ``P`` used (input coordinate, monomial) pairs (float64).
    groups : list of (int, slice, slice or ndarray)
        Per input coordinate ``i``: its rows in the pair list and its monomials.
    n_pairs : int
    c_norm : float
        Spectral norm of the full coefficient matrix (for the error bound).
    """

    coef: Any
    groups: list
    n_pairs: int
    c_norm: float


def field_plan(action: Any) -> FieldPlan:
    """The :class:`FieldPlan` of an action (sparse coefficients when at most a quarter of them are nonzero)."""
    q = action.n_generators
    C = action.fields.reshape(q, -1)
    used = np.flatnonzero(np.any(C != 0, axis=0))  # sorted: pairs come grouped by input coordinate
    pair_i, pair_l = np.divmod(used, action.fields.shape[2])
    C_used = np.ascontiguousarray(C[:, used])
    coef: Any = C_used
    if 4 * np.count_nonzero(C_used) <= C_used.size:
        from scipy.sparse import csr_array

        coef = csr_array(C_used)
    groups = []
    for i in np.unique(pair_i):
        rows = np.flatnonzero(pair_i == i)
        ls = pair_l[rows]
        contiguous = np.array_equal(ls, np.arange(ls[0], ls[0] + len(ls)))
        groups.append((int(i), slice(rows[0], rows[-1] + 1), slice(ls[0], ls[-1] + 1) if contiguous else ls))
    c_norm = float(np.linalg.norm(C, 2)) if C.size else 0.0
    return FieldPlan(coef, groups, len(used), c_norm)


def _contract(J_t: np.ndarray, theta_t: np.ndarray, plan: FieldPlan, out: np.ndarray) -> None:
    r"""``out[k, r] = sum_p C[k, p] J_t[i_p, r] theta_t[l_p, r]`` over the used (coordinate, monomial) pairs.

    ``J_t`` (m, R) and ``theta_t`` (L, R) have columns ordered (point, output); ``out`` is (q, R). The products
    :math:`\partial_i F\, \theta_l` of a cache-sized block of columns are formed once (one broadcast product per
    input coordinate ``i``) and multiplied by the coefficients: a sparse matrix for sparse bases (orthonormal
    gl(n), block copies, so(n): one or two nonzeros per generator), a dense product otherwise. Works in ``J_t``'s
    dtype (float32 for float32 models: rounding far below their derivative error).
    """
    work = np.dtype(np.float32) if J_t.dtype == np.float32 else np.dtype(np.float64)
    J_t = J_t.astype(work, copy=False)
    coef = plan.coef if work == np.float64 else plan.coef.astype(work)
    theta_w = theta_t.astype(work, copy=False)
    width = min(_CACHE_COLS, J_t.shape[1])
    prod = np.empty((plan.n_pairs, width), dtype=work)
    for start in range(0, J_t.shape[1], width):
        n = min(width, J_t.shape[1] - start)
        cols = slice(start, start + n)
        for i, rows, ls in plan.groups:
            np.multiply(J_t[i, cols], theta_w[ls, cols], out=prod[rows, :n])
        out[:, cols] = coef @ prod[:, :n]


def lie_matrix(
    model: Model, action: Any, X: np.ndarray, *, chunk_size: int = 65536, plan: FieldPlan | None = None
) -> tuple[np.ndarray, float]:
    r"""The Lie-derivative matrix :math:`M[(x, o), k] = (DF(x) v_k(x) - B_k(x) F(x))_o` and its error bound.

    :math:`DF(x) v_k(x)` comes from ``q`` directional derivatives (torch, when ``q <= min(n_out, m)``) or from the
    Jacobian contracted with the field coefficients :math:`v_k(x) = C_k \theta(x)`:
    :math:`M = (DF \otimes \theta) C^\top`, restricted to the (coordinate, monomial) pairs the fields use. For
    linear fields this is :math:`M[x, k] = \sum_{ij} \partial_i F(x)\, x_j\, (A_k)_{ij}`, one fused product per
    nonzero of the (sparse) generators, or one matrix product for a dense basis.

    Parameters
    ----------
    model : Model
    action : symlie._action.Action
    X : ndarray of shape (n_samples, m)
    chunk_size : int
    plan : FieldPlan, optional
        ``field_plan(action)``, to reuse across calls with the same action.

    Returns
    -------
    (ndarray of shape (n_samples * n_outputs, q), float)
        ``M`` (rows ordered (point, output); stored column-major, i.e. as the transpose of a C-ordered (q, R)
        array; float32 for float32 torch models, float64 otherwise) and :math:`\|E\|_F`, a bound on the Frobenius
        norm of its error.
    """
    q, n_out, m = action.n_generators, model.n_outputs, model.n_features
    use_directional = model.kind == "torch" and q <= min(n_out, m)
    # only the (input coordinate, field monomial) pairs some generator uses: block and sparse algebras stay cheap
    if plan is None:
        plan = field_plan(action)
    # float32 models (relative derivative error ~1e-5) get a float32 matrix: its rounding is far below their error
    reduced = model.kind == "torch" and model.rel_error > 1e-6 and not use_directional
    M_t = np.empty((q, len(X) * n_out), dtype=np.float32 if reduced else np.float64)
    err2 = 0.0
    for start in range(0, len(X), chunk_size):
        Xc = X[start : start + chunk_size]
        out = M_t[:, start * n_out : (start + len(Xc)) * n_out]
        if use_directional:
            D = model.directional(Xc, action.vector_fields(Xc))  # (q, points, n_out)
            out[:] = D.reshape(q, -1)
            err2 += float(np.sum((model.rel_error * np.abs(out)) ** 2))
        else:
            theta_t = _terms_t(action.field_library, Xc, M_t.dtype)
            J, Jerr = model._jacobian(Xc)  # in the model's dtype: float32 products are exact enough for it
            J_t = np.ascontiguousarray(J.transpose(2, 0, 1)).reshape(m, -1)
            theta_rep = np.repeat(theta_t, n_out, axis=1) if n_out > 1 else theta_t
            _contract(J_t, theta_rep, plan, out)
            # ||(|Jerr| (x) |theta|) |C|^T||_F <= ||Jerr (x) theta||_F ||C||_2, and the first factor is a product
            # (error estimates: the working precision is enough for these sums of squares)
            theta2 = np.einsum("lr,lr->r", theta_t, theta_t).astype(np.float64)
            if Jerr is None:  # relative rule rel * (|J| + eps): ||Jerr_x|| <= rel (||J_x|| + eps sqrt(n_out m))
                jn = np.sqrt(np.einsum("ir,ir->r", J_t, J_t).astype(np.float64).reshape(-1, n_out).sum(axis=1))
                jerr2 = (model.rel_error * (jn + _EPS * np.sqrt(n_out * m))) ** 2
            else:
                jerr2 = np.sum(Jerr**2, axis=(1, 2))
            err2 += float(jerr2 @ theta2) * plan.c_norm**2
        B = action.output_matrices(Xc)
        if B is not None:
            F = model.value(Xc)
            out -= np.einsum("knab,nb->kna", B, F).reshape(q, -1)
    return M_t.T, float(np.sqrt(err2))
