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

__all__ = ["Model", "as_model"]

_EPS = float(np.finfo(np.float64).eps)
#: Points per block in the numpy contraction of the Lie matrix (keeps the products in cache).
_CACHE_ROWS = 2048
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
    _jacobian: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    _directional: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    library: PolynomialLibrary | None = None
    coef: np.ndarray | None = None

    def value(self, X: np.ndarray) -> np.ndarray:
        """:math:`F(X)`, ndarray of shape (n_samples, n_outputs)."""
        return self._value(X)

    def jacobian(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:math:`DF(X)` of shape (n_samples, n_outputs, m) and its absolute error estimate (same shape)."""
        return self._jacobian(X)

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

    def jacobian(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        parts = []
        for x in chunks(X):
            if n_out <= m:  # one reverse pass per output (rows of a batch are independent)
                with torch.enable_grad():
                    x = x.requires_grad_(True)
                    out = call(x).reshape(len(x), n_out)
                    rows = [
                        torch.autograd.grad(out[:, o].sum(), x, retain_graph=o < n_out - 1)[0] for o in range(n_out)
                    ]
                parts.append(torch.stack(rows, dim=1).detach().to(torch.float64).numpy())
            else:  # one forward pass per input coordinate
                eye = torch.eye(m, dtype=dtype)
                cols = [jvp(call2, (x,), (eye[j].expand(len(x), m).contiguous(),))[1] for j in range(m)]
                parts.append(torch.stack(cols, dim=2).detach().numpy())
        J = np.concatenate(parts) if parts else np.zeros((0, n_out, m))
        return J, rel * np.abs(J) + rel * _EPS

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
def lie_matrix(model: Model, action: Any, X: np.ndarray, *, chunk_size: int = 65536) -> tuple[np.ndarray, float]:
    r"""The Lie-derivative matrix :math:`M[(x, o), k] = (DF(x) v_k(x) - B_k(x) F(x))_o` and its error bound.

    :math:`DF(x) v_k(x)` comes from ``q`` directional derivatives (torch, when ``q <= min(n_out, m)``) or from the
    Jacobian contracted with the field coefficients :math:`v_k(x) = C_k \theta(x)`:
    :math:`M = (DF \otimes \theta) C^\top`, restricted to the (coordinate, monomial) pairs the fields use.

    Parameters
    ----------
    model : Model
    action : symlie._action.Action
    X : ndarray of shape (n_samples, m)
    chunk_size : int

    Returns
    -------
    (ndarray of shape (n_samples * n_outputs, q), float)
        ``M`` (rows ordered (point, output)) and :math:`\|E\|_F`, a bound on the Frobenius norm of its error.
    """
    q, n_out, m = action.n_generators, model.n_outputs, model.n_features
    C = action.fields.reshape(q, -1)
    c_norm = float(np.linalg.norm(C, 2)) if C.size else 0.0
    # only the (input coordinate, field monomial) pairs some generator uses: block and sparse algebras stay cheap
    used = np.flatnonzero(np.any(C != 0, axis=0))
    pair_i, pair_l = np.divmod(used, action.fields.shape[2])
    C_used = C[:, used].T
    blocks, err2 = [], 0.0
    use_directional = model.kind == "torch" and q <= min(n_out, m)
    for start in range(0, len(X), chunk_size):
        Xc = X[start : start + chunk_size]
        theta = action.field_library.evaluate(Xc)
        if use_directional:
            V = action.vector_fields(Xc)
            D = model.directional(Xc, V)
            Mc = np.ascontiguousarray(D.transpose(1, 2, 0)).reshape(-1, q)
            err2 += float(np.sum((model.rel_error * np.abs(Mc)) ** 2))
        else:
            J, Jerr = model.jacobian(Xc)
            # a reduced-precision model (rel_error >> float32 rounding) needs no float64 products
            work = np.float32 if model.rel_error > 1e-6 else np.float64
            Jw, theta_w, C_w = J.astype(work), theta.astype(work), C_used.astype(work)
            Mc = np.empty((len(Xc) * n_out, q))
            for sub in range(0, len(Xc), _CACHE_ROWS):  # cache-sized blocks of the (point, pair) products
                rows = slice(sub, sub + _CACHE_ROWS)
                outer = Jw[rows][:, :, pair_i] * theta_w[rows][:, None, pair_l]
                Mc[sub * n_out : (sub + _CACHE_ROWS) * n_out] = outer.reshape(-1, len(used)) @ C_w
            # ||(|Jerr| (x) |theta|) |C|^T||_F <= ||Jerr (x) theta||_F ||C||_2, and the first factor is a product
            err2 += float(np.sum(np.sum(Jerr**2, axis=(1, 2)) * np.sum(theta**2, axis=1))) * c_norm**2
        B = action.output_matrices(Xc)
        if B is not None:
            F = model.value(Xc)
            Mc = Mc - np.einsum("knab,nb->nak", B, F).reshape(-1, q)
        blocks.append(Mc)
    M = np.concatenate(blocks) if blocks else np.zeros((0, q))
    return M, float(np.sqrt(err2))
