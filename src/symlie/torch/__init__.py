"""PyTorch layers and penalties for symmetry: exact equivariance, promotion, soft and relaxed equivariance.

Importing :mod:`symlie` never imports torch; this subpackage does (install the ``torch`` extra).

* exact equivariance for any matrix group: :class:`EquivariantLinear`, :class:`EMLP`, the nonlinearities
  :class:`GatedNonlinearity`, :class:`NormNonlinearity`, :class:`ElementwiseNonlinearity`, and the check
  :func:`equivariance_error`;
* promotion: :func:`lie_derivative`, :func:`lie_derivative_matrix`, :class:`SymmetryPenalty` and
  :func:`enforce_discovered` (promote-then-enforce);
* soft equivariance (residual pathway priors): :class:`SoftEquivariantLinear`, :func:`rpp_penalty`;
* relaxed equivariance and symmetry breaking: :class:`RelaxedEquivariant`, :class:`FiniteCanonicalizer`,
  :class:`PermutationCanonicalizer` (S(n) by sorting), :class:`OrthogonalCanonicalizer` (tuples or sets of
  vectors, :func:`gram_labelling`), :class:`NoiseInjection`, :func:`equivariant_floor`;
* the EMLP benchmark datasets: :func:`O5Synthetic`, :func:`Inertia`, :func:`ParticleInteraction`.
"""

from ._canonical import PermutationCanonicalizer as PermutationCanonicalizer
from ._canonical import gram_labelling as gram_labelling
from ._check import equivariance_error as equivariance_error
from ._datasets import Dataset as Dataset
from ._datasets import Inertia as Inertia
from ._datasets import O5Synthetic as O5Synthetic
from ._datasets import ParticleInteraction as ParticleInteraction
from ._discover import Discovery as Discovery
from ._discover import Enforced as Enforced
from ._discover import enforce_discovered as enforce_discovered
from ._emlp import EMLP as EMLP
from ._emlp import BilinearFeatures as BilinearFeatures
from ._emlp import EMLPBlock as EMLPBlock
from ._emlp import uniform_rep as uniform_rep
from ._linear import EquivariantLinear as EquivariantLinear
from ._nonlinear import ElementwiseNonlinearity as ElementwiseNonlinearity
from ._nonlinear import GatedNonlinearity as GatedNonlinearity
from ._nonlinear import NormNonlinearity as NormNonlinearity
from ._nonlinear import gated as gated
from ._penalty import SymmetryPenalty as SymmetryPenalty
from ._penalty import lie_derivative as lie_derivative
from ._penalty import lie_derivative_matrix as lie_derivative_matrix
from ._relaxed import FiniteCanonicalizer as FiniteCanonicalizer
from ._relaxed import NoiseInjection as NoiseInjection
from ._relaxed import OrthogonalCanonicalizer as OrthogonalCanonicalizer
from ._relaxed import RelaxedEquivariant as RelaxedEquivariant
from ._relaxed import Stabilizer as Stabilizer
from ._relaxed import enumerate_group as enumerate_group
from ._relaxed import equivariant_floor as equivariant_floor
from ._relaxed import fixed_subspace as fixed_subspace
from ._soft import SoftEquivariantLinear as SoftEquivariantLinear
from ._soft import rpp_penalty as rpp_penalty
from ._structure import clear_plan_cache as clear_plan_cache

__all__ = [
    "EMLP",
    "BilinearFeatures",
    "Dataset",
    "Discovery",
    "EMLPBlock",
    "ElementwiseNonlinearity",
    "Enforced",
    "EquivariantLinear",
    "FiniteCanonicalizer",
    "GatedNonlinearity",
    "Inertia",
    "NoiseInjection",
    "NormNonlinearity",
    "O5Synthetic",
    "OrthogonalCanonicalizer",
    "ParticleInteraction",
    "PermutationCanonicalizer",
    "RelaxedEquivariant",
    "SoftEquivariantLinear",
    "Stabilizer",
    "SymmetryPenalty",
    "clear_plan_cache",
    "enforce_discovered",
    "enumerate_group",
    "equivariance_error",
    "equivariant_floor",
    "fixed_subspace",
    "gated",
    "gram_labelling",
    "lie_derivative",
    "lie_derivative_matrix",
    "rpp_penalty",
    "uniform_rep",
]
