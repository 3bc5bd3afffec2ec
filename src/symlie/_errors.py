"""Exception and warning types shared by the whole library."""

from __future__ import annotations

__all__ = [
    "ClosureError",
    "ConvergenceWarning",
    "GroupMismatchError",
    "ShapeError",
    "SpectralGapWarning",
    "SymlieError",
    "SymlieTypeError",
    "SymlieValueError",
]


class SymlieError(Exception):
    """Base class of every error raised by symlie."""


class SymlieValueError(SymlieError, ValueError):
    """An argument has the right type but an unusable value."""


class SymlieTypeError(SymlieError, TypeError):
    """An argument has the wrong type."""


class ShapeError(SymlieValueError):
    """An array argument has the wrong shape."""


class ClosureError(SymlieValueError):
    """A set of generators is not closed under the bracket."""


class GroupMismatchError(SymlieValueError):
    """Two representations of different groups were combined."""


class SpectralGapWarning(UserWarning):
    """A rank decision was made without a clean gap in the singular values."""


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped before reaching its tolerance."""
