r"""Equivariant nonlinearities: gated, norm-based and elementwise (for permutation representations).

Every term of a representation (a tensor product of base factors, ``rep.terms()``) is an invariant subspace, and
multiplying an invariant subspace by an *invariant* scalar commutes with the group. The gated nonlinearity takes
the scalars from extra invariant channels (one gate per non-trivial term); the norm nonlinearity from the term's
own Euclidean norm, which is invariant only when the group acts orthogonally on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numpy as np
import torch
from torch import nn

from .._errors import SymlieValueError
from .._reps import Rep, Scalar
from ._linear import check_features
from ._structure import rep_layout, term_rep

__all__ = ["ElementwiseNonlinearity", "GatedNonlinearity", "NormNonlinearity", "gated"]

Activation = Callable[[torch.Tensor], torch.Tensor]


def _n_gates(rep: Rep) -> int:
    return sum(1 for factors, _ in rep.terms() if factors)


def gated(rep: Rep) -> Rep:
    """``rep`` followed by one :data:`~symlie.Scalar` gate per non-trivial term (the input of the gate).

    Examples
    --------
    >>> import symlie as sl
    >>> G = sl.O(3)
    >>> gated(2 * sl.V(G) + sl.Scalar).size
    9
    """
    count = _n_gates(rep)
    return rep + count * Scalar if count else rep


class GatedNonlinearity(nn.Module):
    r"""Gated nonlinearity :math:`\mathrm{gated}(R) \to R`.

    Trivial terms get ``activation`` (SiLU by default); every other term :math:`x_t` is scaled by its gate,
    :math:`x_t \, \sigma(s_t)`, where :math:`s_t` is the extra invariant channel number ``t`` appended by
    :func:`gated`. Equivariant for every group, because the gates are invariant scalars.

    Parameters
    ----------
    rep : Rep
        The output representation ``R``; the input is ``gated(rep)``.
    activation : callable, default ``torch.nn.functional.silu``

    Examples
    --------
    >>> import torch, symlie as sl
    >>> G = sl.SO(3)
    >>> gate = GatedNonlinearity(sl.V(G) + sl.Scalar)
    >>> gate(torch.zeros(2, 5)).shape
    torch.Size([2, 4])
    """

    _scalar: torch.Tensor
    _gate: torch.Tensor

    def __init__(self, rep: Rep, *, activation: Activation = nn.functional.silu) -> None:
        super().__init__()
        self.rep_in, self.rep_out = gated(rep), rep
        self.activation = activation
        scalar = np.zeros(rep.size, dtype=bool)
        gate = np.zeros(rep.size, dtype=np.int64)
        t = 0
        segments: list[list[int]] = []  # [start, copies, size, first gate (-1 for scalars)] of contiguous runs
        for factors, positions in rep.terms():
            start, size = int(positions[0]), len(positions)
            contiguous = bool(np.array_equal(positions, np.arange(start, start + size)))
            if factors:
                gate[positions] = t
                key = (start, size, t)
                t += 1
            else:
                scalar[positions] = True
                key = (start, size, -1)
            last = segments[-1] if segments else None
            if (
                contiguous
                and last is not None
                and last[0] + last[1] * last[2] == start
                and (last[3] < 0) == (key[2] < 0)
                and (key[2] < 0 or (last[2] == size and last[3] + last[1] == key[2]))
            ):
                if key[2] < 0:
                    last[2] += size  # scalars: one run of width ``size``
                else:
                    last[1] += 1
            else:
                segments.append([start, 1, size, key[2]] if contiguous else [-1, 0, 0, 0])
        self._size, self._n = rep.size, t
        # Fast path: a few contiguous segments that tile the coordinates in order (one split, broadcasting, one
        # concatenation); otherwise gather the gates.
        starts = np.cumsum([0] + [seg[1] * seg[2] for seg in segments])
        fast = len(segments) <= 16 and all(seg[0] == s for seg, s in zip(segments, starts.tolist()))
        self._segments = [tuple(seg) for seg in segments] if fast else None
        self._splits = [seg[1] * seg[2] for seg in segments] + ([t] if t else [])
        self._gate_splits = [seg[1] for seg in segments if seg[3] >= 0]
        self.register_buffer("_scalar", torch.tensor(scalar), persistent=False)
        self.register_buffer("_gate", torch.tensor(gate), persistent=False)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """Apply the gates.

        Parameters
        ----------
        y : Tensor of shape (..., gated(rep).size)

        Returns
        -------
        Tensor of shape (..., rep.size)
        """
        check_features(y, self.rep_in.size, "y")
        if self._n == 0:
            return self.activation(y)
        if self._segments is not None:
            parts = y.split(self._splits, dim=-1)  # its backward is one concatenation
            gates = iter(torch.sigmoid(parts[-1]).split(self._gate_splits, dim=-1))
            pieces = []
            for (_, copies, size, first), part in zip(self._segments, parts):
                if first < 0:
                    pieces.append(self.activation(part))
                else:
                    gate = next(gates).unsqueeze(-1)
                    pieces.append((part.unflatten(-1, (copies, size)) * gate).flatten(-2))
            return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=-1)
        h = y[..., : self._size]
        gates = torch.sigmoid(y[..., self._size :])
        return torch.where(self._scalar, self.activation(h), h * gates.index_select(-1, self._gate))

    def extra_repr(self) -> str:
        return f"{self.rep_in!r} -> {self.rep_out!r}"


def _acts_orthogonally(rep: Rep) -> bool:
    group = rep.group
    if group is None:
        return True
    for A in group.algebra.basis:
        M = rep.drho(A)
        if not np.allclose(M, -M.T, atol=1e-12 * max(1.0, np.abs(M).max())):
            return False
    for h in group.discrete:
        M = rep.rho(h)
        if not np.allclose(M.T @ M, np.eye(len(M)), atol=1e-10):
            return False
    return True


class NormNonlinearity(nn.Module):
    r"""Norm nonlinearity :math:`x_t \mapsto x_t\, \sigma(\lVert x_t \rVert - \beta_t)` on each non-trivial term.

    Trivial terms get ``activation``. The Euclidean norm of a term is invariant only when the group acts on the term
    by orthogonal matrices (O(n), SO(n), permutations), which is checked.

    Parameters
    ----------
    rep : Rep
    activation : callable, default ``torch.nn.functional.silu``
    dtype, device : optional
        Of the learnable thresholds :math:`\beta_t` (one per non-trivial term, initialised at zero).

    Raises
    ------
    SymlieValueError
        If the group does not act orthogonally on some term of ``rep`` (e.g. Lorentz boosts).

    Examples
    --------
    >>> import torch, symlie as sl
    >>> layer = NormNonlinearity(2 * sl.V(sl.O(3)))
    >>> layer(torch.ones(1, 6)).shape
    torch.Size([1, 6])
    """

    def __init__(
        self,
        rep: Rep,
        *,
        activation: Activation = nn.functional.silu,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        layout = rep_layout(rep)
        name = rep.group.name if rep.group is not None else "the trivial group"
        for factors in layout.types:
            if factors and not _acts_orthogonally(term_rep(rep.group, factors)):
                raise SymlieValueError(
                    f"rep {rep!r}: {name} does not act orthogonally on the term "
                    f"{term_rep(rep.group, factors)!r}, so its norm is not invariant; use GatedNonlinearity"
                )
        self.rep_in = self.rep_out = rep
        self.activation = activation
        self._types = [(i, p.shape) for i, (f, p) in enumerate(zip(layout.types, layout.positions)) if f]
        self._trivial = [i for i, f in enumerate(layout.types) if not f]
        for i, positions in enumerate(layout.positions):
            self.register_buffer(f"_positions_{i}", torch.tensor(positions.reshape(-1)), persistent=False)
        self.thresholds = nn.ParameterList(
            [nn.Parameter(torch.zeros(shape[0], dtype=dtype, device=device)) for _, shape in self._types]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the nonlinearity to ``x`` of shape (..., rep.size); same shape out."""
        check_features(x, self.rep_in.size)
        out = torch.zeros_like(x)
        for i in self._trivial:
            index = cast(torch.Tensor, getattr(self, f"_positions_{i}"))
            out = out.index_copy(-1, index, self.activation(x.index_select(-1, index)))
        for (i, (m, d)), beta in zip(self._types, self.thresholds):
            index = cast(torch.Tensor, getattr(self, f"_positions_{i}"))
            part = x.index_select(-1, index).unflatten(-1, (m, d))
            scale = torch.sigmoid(torch.linalg.vector_norm(part, dim=-1, keepdim=True) - beta[:, None])
            out = out.index_copy(-1, index, (part * scale).flatten(-2))
        return out


class ElementwiseNonlinearity(nn.Module):
    """A pointwise activation, equivariant when the group acts by permutation matrices (S(n), Z(n), D(n), ...).

    Parameters
    ----------
    rep : Rep
    activation : callable, default ``torch.nn.functional.silu``

    Raises
    ------
    SymlieValueError
        If ``rep``'s group has a continuous part or a generator that does not act by a permutation matrix.

    Examples
    --------
    >>> import torch, symlie as sl
    >>> ElementwiseNonlinearity(sl.V(sl.Sn(4)) ** 2)(torch.zeros(3, 16)).shape
    torch.Size([3, 16])
    """

    def __init__(self, rep: Rep, *, activation: Activation = nn.functional.silu) -> None:
        super().__init__()
        group = rep.group
        if group is not None:
            if group.algebra.dim:
                raise SymlieValueError(
                    f"rep {rep!r}: elementwise activations commute only with permutations, but {group.name} has "
                    "a continuous part; use GatedNonlinearity"
                )
            for h in group.discrete:
                M = rep.rho(h)
                if not (np.all((M == 0) | (M == 1)) and np.all(M.sum(axis=0) == 1)):
                    raise SymlieValueError(
                        f"rep {rep!r}: a generator of {group.name} does not act by a permutation matrix; use "
                        "GatedNonlinearity"
                    )
        self.rep_in = self.rep_out = rep
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply ``activation`` entrywise to ``x`` of shape (..., rep.size)."""
        check_features(x, self.rep_in.size)
        return self.activation(x)
