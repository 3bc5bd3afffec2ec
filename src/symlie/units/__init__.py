"""Passive symmetries: units covariance (Buckingham Pi), missing dimensional constants, coordinate freedom.

Changing units is a group action: base unit ``j`` rescales input ``i`` by ``s_j^{A_ji}`` (``A`` the integer
dimension matrix). Its Lie algebra is diagonal, monomials are its eigenfunctions, and the dimensionless monomials
form the lattice ``ker A`` (the Pi groups). A model ``y = x^v g(pi(x))`` with ``A v = a_y`` is exactly covariant;
when the target's units ``a_y`` are outside the column span of ``A`` a dimensional constant is missing. Coordinate
freedom (O(d), SO(d), O(1,d), E(d)) is handled by invariant scalar features and equivariant output heads.

Needs the ``units`` extra (``pip install 'symlie[units]'``: scikit-learn and pint); ``import symlie`` does not
import this subpackage.

Examples
--------
>>> import symlie.units as su
>>> su.pi_groups({"tau": "s", "l": "m", "m": "kg", "g": "m/s^2", "theta0": "radian"}).names
('theta0', 'tau^2 g / l')
"""

from ._constants import DimensionalConstant as DimensionalConstant
from ._constants import default_search_estimator as default_search_estimator
from ._constants import find_dimensional_constant as find_dimensional_constant
from ._dimensions import DimensionMatrix as DimensionMatrix
from ._dimensions import dimension_matrix as dimension_matrix
from ._dimensions import target_action as target_action
from ._dimensions import units_algebra as units_algebra
from ._features import CovariantScaler as CovariantScaler
from ._features import EquivariantHeadRegressor as EquivariantHeadRegressor
from ._features import ScalarFeatures as ScalarFeatures
from ._features import matrix_head as matrix_head
from ._features import vector_head as vector_head
from ._pi import MissingDimensionalConstant as MissingDimensionalConstant
from ._pi import PiGroups as PiGroups
from ._pi import Prefactor as Prefactor
from ._pi import consistent_monomials as consistent_monomials
from ._pi import pi_groups as pi_groups
from ._pi import prefactor as prefactor
from ._regressor import UnitsCovariantRegressor as UnitsCovariantRegressor
from ._scaling import ScalingSymmetries as ScalingSymmetries
from ._scaling import discover_scaling as discover_scaling
from ._scaling import discover_scaling_from_data as discover_scaling_from_data

__all__ = [
    "CovariantScaler",
    "DimensionMatrix",
    "DimensionalConstant",
    "EquivariantHeadRegressor",
    "MissingDimensionalConstant",
    "PiGroups",
    "Prefactor",
    "ScalarFeatures",
    "ScalingSymmetries",
    "UnitsCovariantRegressor",
    "consistent_monomials",
    "default_search_estimator",
    "dimension_matrix",
    "discover_scaling",
    "discover_scaling_from_data",
    "find_dimensional_constant",
    "matrix_head",
    "pi_groups",
    "prefactor",
    "target_action",
    "units_algebra",
    "vector_head",
]
