"""Argument checks that turn bad input into errors naming the argument."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._errors import ShapeError, SymlieTypeError, SymlieValueError


def as_float_array(
    value: object,
    name: str,
    *,
    ndim: int | Sequence[int] | None = None,
    shape: Sequence[int | None] | None = None,
) -> np.ndarray:
    """Return ``value`` as a finite float64 array, or raise an error naming ``name``.

    Parameters
    ----------
    value : array_like
        The argument to check.
    name : str
        The argument's name, used in error messages.
    ndim : int or sequence of int, optional
        Allowed numbers of dimensions.
    shape : sequence of int or None, optional
        Expected shape; ``None`` entries match any length.

    Returns
    -------
    ndarray of float64
    """
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SymlieTypeError(f"{name} must be a real numeric array, got {type(value).__name__}: {exc}") from None
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if array.ndim not in allowed:
            raise ShapeError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, got shape {array.shape}")
    if shape is not None:
        ok = len(shape) == array.ndim and all(s is None or s == t for s, t in zip(shape, array.shape))
        if not ok:
            wanted = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ShapeError(f"{name} must have shape {wanted}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise SymlieValueError(f"{name} contains NaN or infinite values")
    return array


def check_positive_int(value: object, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum`` or raise an error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise SymlieTypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise SymlieValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def make_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Return a NumPy generator from a seed, a generator, or ``None`` (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, int | np.integer):
        return np.random.default_rng(seed)
    raise SymlieTypeError(f"rng must be None, an int seed or a numpy Generator, got {type(seed).__name__}")
