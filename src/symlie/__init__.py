"""symlie: enforce, discover and promote symmetry in machine learning with the Lie derivative.

The core (algebras, groups, representations, operators, the three verbs) needs only NumPy and SciPy; PyTorch,
scikit-learn and PySINDy integrations live in their own subpackages and are imported lazily.
"""

from . import bench as bench
from . import dynamics as dynamics
from . import testing as testing
from ._algebra import ClosureReport as ClosureReport
from ._algebra import LieAlgebra as LieAlgebra
from ._classical import aff as aff
from ._classical import gl as gl
from ._classical import polynomial_fields as polynomial_fields
from ._classical import scaling as scaling
from ._classical import se as se
from ._classical import sl as sl
from ._classical import so as so
from ._classical import so_pq as so_pq
from ._classical import t as t
from ._dictionaries import PolynomialLibrary as PolynomialLibrary
from ._discover import DiscoveryReport as DiscoveryReport
from ._discover import discover as discover
from ._enforce import SymmetricSubspace as SymmetricSubspace
from ._enforce import enforce as enforce
from ._equivariant import EquivariantSpace as EquivariantSpace
from ._equivariant import equivariant_basis as equivariant_basis
from ._equivariant import equivariant_space as equivariant_space
from ._errors import ClosureError as ClosureError
from ._errors import ConvergenceWarning as ConvergenceWarning
from ._errors import GroupMismatchError as GroupMismatchError
from ._errors import ShapeError as ShapeError
from ._errors import SpectralGapWarning as SpectralGapWarning
from ._errors import SymlieError as SymlieError
from ._errors import SymlieTypeError as SymlieTypeError
from ._errors import SymlieValueError as SymlieValueError
from ._fit_discover import FittedPolynomial as FittedPolynomial
from ._fit_discover import discover_from_data as discover_from_data
from ._groups import GL as GL
from ._groups import SL as SL
from ._groups import SO as SO
from ._groups import D as D
from ._groups import Group as Group
from ._groups import Lorentz as Lorentz
from ._groups import O as O
from ._groups import Sn as Sn
from ._groups import SO13p as SO13p
from ._groups import Z as Z
from ._invariants import BasisCache as BasisCache
from ._invariants import InvariantSpace as InvariantSpace
from ._invariants import basis_cache as basis_cache
from ._invariants import invariant_space as invariant_space
from ._linalg import NullSpace as NullSpace
from ._linalg import null_space as null_space
from ._manifold import discover_manifold as discover_manifold
from ._manifold import vanishing_polynomials as vanishing_polynomials
from ._metrics import DiscreteReport as DiscreteReport
from ._metrics import check_discrete as check_discrete
from ._metrics import discrete_candidates as discrete_candidates
from ._metrics import lie_derivative_norms as lie_derivative_norms
from ._metrics import symmetry_bias as symmetry_bias
from ._metrics import symmetry_variance as symmetry_variance
from ._operator import LieDerivativeOperator as LieDerivativeOperator
from ._operator import lie_derivative_operator as lie_derivative_operator
from ._promote import PromoteResult as PromoteResult
from ._promote import nuclear_norm_penalty as nuclear_norm_penalty
from ._promote import promote as promote
from ._reps import Rep as Rep
from ._reps import Scalar as Scalar
from ._reps import V as V

__version__ = "0.1.0"

__all__ = [
    "GL",
    "SL",
    "SO",
    "BasisCache",
    "ClosureError",
    "ClosureReport",
    "ConvergenceWarning",
    "D",
    "DiscoveryReport",
    "DiscreteReport",
    "EquivariantSpace",
    "FittedPolynomial",
    "Group",
    "GroupMismatchError",
    "InvariantSpace",
    "LieAlgebra",
    "LieDerivativeOperator",
    "Lorentz",
    "NullSpace",
    "O",
    "PolynomialLibrary",
    "PromoteResult",
    "Rep",
    "SO13p",
    "Scalar",
    "ShapeError",
    "Sn",
    "SpectralGapWarning",
    "SymlieError",
    "SymlieTypeError",
    "SymlieValueError",
    "SymmetricRegressor",
    "SymmetricSubspace",
    "V",
    "Z",
    "aff",
    "basis_cache",
    "bench",
    "check_discrete",
    "discover",
    "discover_from_data",
    "discover_manifold",
    "discrete_candidates",
    "dynamics",
    "enforce",
    "equivariant_basis",
    "equivariant_space",
    "gl",
    "invariant_space",
    "lie_derivative_norms",
    "lie_derivative_operator",
    "nuclear_norm_penalty",
    "null_space",
    "polynomial_fields",
    "promote",
    "scaling",
    "se",
    "sl",
    "so",
    "so_pq",
    "symmetry_bias",
    "symmetry_variance",
    "t",
    "testing",
    "vanishing_polynomials",
]


def __getattr__(name: str) -> object:
    """Lazy exports: ``SymmetricRegressor`` imports scikit-learn, so its module loads on first access."""
    if name == "SymmetricRegressor":
        from ._regression import SymmetricRegressor

        return SymmetricRegressor
    raise AttributeError(f"module 'symlie' has no attribute {name!r}")
