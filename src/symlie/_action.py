"""How a symmetry acts on a model family: input vector fields, output action and discrete generators.

Every way of naming a symmetry (a :class:`~symlie.LieAlgebra`, a :class:`~symlie.Group`, a
:class:`~symlie.Rep`) and every output action (``"invariant"``, ``"vector_field"``, a representation, a linear
algebra) is normalised here into one :class:`Action`, which the operators consume.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._algebra import LieAlgebra
from ._dictionaries import PolynomialLibrary
from ._errors import GroupMismatchError, ShapeError, SymlieTypeError, SymlieValueError
from ._groups import Group
from ._reps import Rep
from ._validation import as_float_array, check_positive_int

__all__ = ["Action", "make_action"]

_OUTPUT_KINDS = ("invariant", "vector_field")


@dataclass(frozen=True, eq=False)
class Action:
    r"""A symmetry acting on models :math:`F: \mathbb{R}^m \to \mathbb{R}^{n_{out}}`.

    Generator ``k`` moves inputs along the polynomial vector field :math:`v_k(x) = C_k \phi(x)` and acts on
    outputs with :math:`B_k(x)`: zero (``"invariant"``), the Jacobian :math:`Dv_k(x)` (``"vector_field"``, the
    tangent action) or a constant matrix. Discrete generators act as :math:`(K_g F)(x) = g_{out}^{-1} F(g_{in} x)`.

    Attributes
    ----------
    fields : ndarray of shape (q, m, n_field_terms)
        Coefficients :math:`C_k` of the input vector fields over :attr:`field_library`. Read-only.
    field_library : PolynomialLibrary
        The monomials :math:`\phi` the fields are expanded in.
    output : {"invariant", "vector_field"} or ndarray of shape (q, n_outputs, n_outputs)
        The output action; an array holds constant matrices :math:`B_k`.
    n_outputs : int
        Number of outputs ``n_out``.
    discrete : tuple of (ndarray of shape (m, m), ndarray of shape (n_outputs, n_outputs))
        Pairs ``(g_in, g_out)``, one per discrete generator.
    algebra : LieAlgebra or None
        The input algebra when the fields form one (``None`` e.g. for a representation whose
        :math:`d\rho` is not injective).
    name : str
        Readable description, e.g. ``'so(3) -> vector_field'``.
    """

    fields: np.ndarray
    field_library: PolynomialLibrary
    output: str | np.ndarray
    n_outputs: int
    discrete: tuple[tuple[np.ndarray, np.ndarray], ...]
    algebra: LieAlgebra | None
    name: str

    @property
    def n_generators(self) -> int:
        return int(self.fields.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.fields.shape[1])

    @property
    def kind(self) -> str:
        """``'linear'``, ``'affine'`` or ``'polynomial'`` input fields."""
        m = self.n_features
        if self.field_library == PolynomialLibrary(m, 1, include_bias=False):
            return "linear"
        if self.field_library == PolynomialLibrary(m, 1, include_bias=True):
            return "affine"
        return "polynomial"

    @property
    def output_kind(self) -> str:
        """``'invariant'``, ``'vector_field'`` or ``'matrix'`` (constant output matrices)."""
        return self.output if isinstance(self.output, str) else "matrix"

    @property
    def degree_increase(self) -> int:
        """How much :math:`L_\\xi` can raise the degree of a polynomial model (``field degree - 1``, at least 0)."""
        return max(self.field_library.degree - 1, 0) if self.n_generators else 0

    def __repr__(self) -> str:
        return f"Action({self.name}, q={self.n_generators}, m={self.n_features}, n_outputs={self.n_outputs})"

    def vector_fields(self, X: np.ndarray) -> np.ndarray:
        """:math:`v_k(x_i)` as an array of shape (q, n_samples, m)."""
        theta = self.field_library.evaluate(X)
        return np.einsum("kil,nl->kni", self.fields, theta)

    def output_matrices(self, X: np.ndarray) -> np.ndarray | None:
        """:math:`B_k(x_i)` as an array of shape (q, n_samples, n_outputs, n_outputs); ``None`` if invariant."""
        if isinstance(self.output, np.ndarray):
            return np.broadcast_to(self.output[:, None], (self.n_generators, len(X)) + self.output.shape[1:])
        if self.output == "vector_field":
            dphi = self.field_library.jacobian(X)
            return np.einsum("kil,nlj->knij", self.fields, dphi)
        return None


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=np.float64)
    array.setflags(write=False)
    return array


def _linear_algebra_or_none(fields: np.ndarray, name: str) -> LieAlgebra | None:
    try:
        return LieAlgebra(fields, name=name, require_closure=False)
    except SymlieValueError:
        return None


def _input_from_symmetry(symmetry: Any) -> tuple[np.ndarray, PolynomialLibrary, list[np.ndarray], Any, str]:
    """Fields, field library, discrete input matrices, the group (or None) and a name."""
    if isinstance(symmetry, LieAlgebra):
        return symmetry.basis, symmetry.library, [], None, symmetry.name
    if isinstance(symmetry, Group):
        return symmetry.algebra.basis, symmetry.algebra.library, list(symmetry.discrete), symmetry, symmetry.name
    if isinstance(symmetry, Rep):
        group = symmetry.group
        if group is None:
            raise SymlieValueError(
                f"symmetry {symmetry!r} is a trivial representation (no group acts on it); pass a representation "
                "built from V(G), such as V(G) or V(G) ** 2"
            )
        size = symmetry.size
        basis = group.algebra.basis
        fields = np.stack([symmetry.drho(A) for A in basis]) if len(basis) else np.zeros((0, size, size))
        library = PolynomialLibrary(size, 1, include_bias=False)
        discrete = [symmetry.rho(h) for h in group.discrete]
        return fields, library, discrete, group, repr(symmetry)
    raise SymlieTypeError(
        "symmetry must be a LieAlgebra (e.g. sl.so(3)), a Group (e.g. sl.O(3)) or a Rep (e.g. sl.V(sl.SO(3)) ** 2), "
        f"got {type(symmetry).__name__}"
    )


def _check_n_outputs(n_outputs: int | None, expected: int, why: str) -> int:
    if n_outputs is not None and n_outputs != expected:
        raise SymlieValueError(f"n_outputs={n_outputs} contradicts output={why}, which acts on {expected} outputs")
    return expected


def make_action(
    symmetry: Any, output: Any = "invariant", n_features: int | None = None, n_outputs: Any = None
) -> Action:
    r"""Normalise a symmetry and an output action into an :class:`Action`.

    Parameters
    ----------
    symmetry : LieAlgebra, Group or Rep
        The input action. A :class:`~symlie.LieAlgebra` of any kind (linear, affine, polynomial vector fields);
        a :class:`~symlie.Group` acting by its defining representation (its algebra plus its discrete
        generators); or a :class:`~symlie.Rep` of a group, acting by :math:`d\rho` and :math:`\rho`.
    output : {"invariant", "vector_field"}, Rep, LieAlgebra or array_like of shape (q, n_out, n_out)
        ``"invariant"``: outputs unchanged. ``"vector_field"``: tangent action :math:`B_k = Dv_k` (models are
        vector fields on the input space). A Rep of the same group: :math:`B_k = d\rho_{out}(A_k)`,
        :math:`g_{out} = \rho_{out}(h)`. A linear LieAlgebra (or array) with the same number ``q`` of
        generators: constant output matrices :math:`B_k`.
    n_features : int, optional
        Dimension ``m`` the model's inputs must have (checked against the symmetry).
    n_outputs : int, optional
        Number of outputs; defaults to 1 for invariant models and is fixed by every other output action.

    Returns
    -------
    Action

    Raises
    ------
    SymlieTypeError
        If ``symmetry`` or ``output`` has an unsupported type.
    ShapeError
        If the dimensions of the symmetry, the output action and ``n_features`` disagree.
    GroupMismatchError
        If ``output`` is a representation of another group.
    SymlieValueError
        For discrete generators that cannot act (non-linear fields, unknown output action) or bad ``n_outputs``.

    Examples
    --------
    >>> import symlie as sl
    >>> a = make_action(sl.O(2), "vector_field")
    >>> a.n_generators, a.n_outputs, len(a.discrete)
    (1, 2, 1)
    """
    fields, field_library, discrete_in, group, name = _input_from_symmetry(symmetry)
    q, m = fields.shape[0], fields.shape[1]
    if n_features is not None and n_features != m:
        raise ShapeError(
            f"the library has n_features={n_features} but symmetry {name} acts on R^{m}; "
            f"use a library with n_features={m}"
        )
    if n_outputs is not None:
        n_outputs = check_positive_int(n_outputs, "n_outputs")
    discrete_out: list[np.ndarray]
    out: str | np.ndarray
    if isinstance(output, str):
        if output not in _OUTPUT_KINDS:
            raise SymlieValueError(
                f"output must be 'invariant', 'vector_field', a Rep or a linear LieAlgebra, got {output!r}"
            )
        out = output
        if output == "invariant":
            n_out = n_outputs if n_outputs is not None else 1
            discrete_out = [np.eye(n_out) for _ in discrete_in]
        else:
            n_out = _check_n_outputs(n_outputs, m, "'vector_field'")
            discrete_out = list(discrete_in)
        label = output
    elif isinstance(output, Rep):
        if group is None:
            raise SymlieTypeError(
                f"output={output!r} is a representation, so symmetry must be a Group or a Rep of the same group, "
                f"got a {type(symmetry).__name__} ({name}); pass e.g. symmetry=sl.SO(3)"
            )
        if output.group is not None and output.group != group:
            raise GroupMismatchError(
                f"output is a representation of {output.group.name} but symmetry is {group.name}; "
                "both must use the same group"
            )
        basis = group.algebra.basis
        n_out = _check_n_outputs(n_outputs, output.size, repr(output))
        out = np.stack([output.drho(A) for A in basis]) if len(basis) else np.zeros((0, n_out, n_out))
        discrete_out = [output.rho(h) for h in group.discrete]
        label = repr(output)
    elif isinstance(output, LieAlgebra) or isinstance(output, np.ndarray | list | tuple):
        if isinstance(output, LieAlgebra):
            if output.kind != "linear":
                raise SymlieValueError(
                    f"output must be a linear LieAlgebra (constant matrices on the outputs), got {output.kind} "
                    f"{output!r}"
                )
            mats = output.basis
            label = output.name
        else:
            mats = as_float_array(output, "output", ndim=3)
            if mats.shape[1] != mats.shape[2]:
                raise ShapeError(f"output matrices must have shape (q, n_out, n_out), got {mats.shape}")
            label = f"matrices{mats.shape}"
        if mats.shape[0] != q:
            raise ShapeError(
                f"output has {mats.shape[0]} generators but symmetry {name} has q={q}; the output action needs "
                "one matrix per input generator, in the same order"
            )
        if discrete_in:
            raise SymlieValueError(
                f"symmetry {name} has discrete generators, and a LieAlgebra output does not say how they act on "
                "the outputs; pass output as a Rep of the group instead"
            )
        out = mats
        n_out = _check_n_outputs(n_outputs, mats.shape[1], label)
        discrete_out = []
    else:
        raise SymlieTypeError(
            f"output must be 'invariant', 'vector_field', a Rep or a linear LieAlgebra, got {type(output).__name__}"
        )
    if discrete_in and field_library != PolynomialLibrary(m, 1, include_bias=False):
        raise SymlieValueError(
            f"discrete generators need linear input fields (matrices), but {name} has {field_library!r} fields"
        )
    if isinstance(out, np.ndarray):
        out = _readonly(out)
    if isinstance(symmetry, LieAlgebra):
        algebra: LieAlgebra | None = symmetry
    elif isinstance(symmetry, Group):
        algebra = symmetry.algebra
    else:
        algebra = _linear_algebra_or_none(fields, name)
    pairs = tuple((_readonly(g), _readonly(h)) for g, h in zip(discrete_in, discrete_out))
    return Action(_readonly(fields), field_library, out, int(n_out), pairs, algebra, f"{name} -> {label}")
