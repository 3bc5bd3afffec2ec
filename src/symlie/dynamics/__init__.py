"""Symmetry-aware SINDy: enforce, promote and discover symmetries (and structure) of identified ODEs.

Everything here needs only NumPy and SciPy, except :class:`SymmetricOptimizer` (the PySINDy wrapper, extra
``symlie[sindy]``), which is imported on first use.

Examples
--------
>>> import symlie as sl, symlie.dynamics as dyn
>>> dyn.discover_symmetry(dyn.rotating(), sl.so(3)).dim   # the rotation about z
1
"""

from typing import Any

from ._discovery import discover_discrete as discover_discrete
from ._discovery import discover_symmetry as discover_symmetry
from ._estimator import PromotedSymmetry as PromotedSymmetry
from ._estimator import SymmetricSINDy as SymmetricSINDy
from ._estimator import smoothed_derivative as smoothed_derivative
from ._fit import LeastSquaresData as LeastSquaresData
from ._fit import cross_validate_alpha as cross_validate_alpha
from ._fit import promoted_stlsq as promoted_stlsq
from ._fit import symmetric_stlsq as symmetric_stlsq
from ._fit import symmetry_dimension as symmetry_dimension
from ._select import SymmetrySelection as SymmetrySelection
from ._select import promote_then_enforce as promote_then_enforce
from ._structure import ConservedQuantities as ConservedQuantities
from ._structure import ConstraintSubspace as ConstraintSubspace
from ._structure import canonical_J as canonical_J
from ._structure import conserved_quantities as conserved_quantities
from ._structure import conserving_subspace as conserving_subspace
from ._structure import divergence as divergence
from ._structure import divergence_free_subspace as divergence_free_subspace
from ._structure import hamiltonian as hamiltonian
from ._structure import hamiltonian_subspace as hamiltonian_subspace
from ._systems import System as System
from ._systems import hopf as hopf
from ._systems import lorenz as lorenz
from ._systems import lotka_volterra as lotka_volterra
from ._systems import oscillator as oscillator
from ._systems import rotating as rotating
from ._systems import simulate as simulate

__all__ = [
    "ConservedQuantities",
    "ConstraintSubspace",
    "LeastSquaresData",
    "PromotedSymmetry",
    "SymmetricOptimizer",
    "SymmetricSINDy",
    "SymmetrySelection",
    "System",
    "canonical_J",
    "conserved_quantities",
    "conserving_subspace",
    "cross_validate_alpha",
    "discover_discrete",
    "discover_symmetry",
    "divergence",
    "divergence_free_subspace",
    "hamiltonian",
    "hamiltonian_subspace",
    "hopf",
    "lorenz",
    "lotka_volterra",
    "oscillator",
    "promote_then_enforce",
    "promoted_stlsq",
    "rotating",
    "simulate",
    "smoothed_derivative",
    "symmetric_stlsq",
    "symmetry_dimension",
]


def __getattr__(name: str) -> Any:
    """Import the PySINDy wrapper on first use (``symlie.dynamics`` itself stays free of PySINDy)."""
    if name == "SymmetricOptimizer":
        from ._optimizer import SymmetricOptimizer

        return SymmetricOptimizer
    raise AttributeError(f"module 'symlie.dynamics' has no attribute {name!r}")
