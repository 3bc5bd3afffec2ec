r"""Exactly equivariant linear layers between representations of any matrix group."""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from .._errors import ShapeError
from .._reps import Rep
from ._structure import LinearPlan, linear_plan

__all__ = ["BLOCK_SPARSE_FRACTION", "EquivariantLinear", "check_features"]

#: Use the block-by-block product when at most this fraction of the weight lies in non-zero blocks.
BLOCK_SPARSE_FRACTION = 0.7
#: Above this many runs of a representation's coordinates, the block-by-block product gathers them instead.
MAX_RUNS = 24


def check_features(x: torch.Tensor, size: int, name: str = "x") -> None:
    """Raise :class:`~symlie.ShapeError` unless ``x`` is a tensor whose last axis has ``size`` entries."""
    if not isinstance(x, torch.Tensor):
        raise ShapeError(f"{name} must be a torch.Tensor of shape (..., {size}), got {type(x).__name__}")
    if x.ndim == 0 or x.shape[-1] != size:
        raise ShapeError(f"{name} must have shape (..., {size}), got {tuple(x.shape)}")


class EquivariantLinear(nn.Module):
    r"""Linear layer :math:`y = W x + b` with :math:`W` and :math:`b` exactly equivariant.

    .. math:: \rho_{out}(g)\, W = W\, \rho_{in}(g), \qquad \rho_{out}(g)\, b = b \qquad \forall g \in G.

    The weight is :math:`\mathrm{vec}(W) = Q c` where the columns of :math:`Q` span
    :math:`\mathrm{Hom}_G(\rho_{in}, \rho_{out})` (:func:`symlie.equivariant_basis`) and :math:`c` is the trainable
    vector :attr:`coefficients`. :math:`Q` is never formed: representations are split into copies of term types
    (``m_a T_a``) and each block is :math:`\sum_k C_k \otimes B_k` with ``B_k`` a basis of
    :math:`\mathrm{Hom}_G(T_a, T_b)` (registered buffers, shared plans cached per ``(rep_in, rep_out)``). A forward
    pass assembles :math:`W` once and costs one matrix product; when many blocks of :math:`W` vanish (e.g. between
    vectors and scalars of O(n)) the product is taken block by block over the non-zero blocks only
    (:attr:`block_sparse`).

    Parameters
    ----------
    rep_in, rep_out : Rep
        Representations of the same group (either may be :data:`~symlie.Scalar` or a multiple of it).
    bias : bool, default True
        Add a bias in the invariant subspace of ``rep_out`` (none when that subspace is zero).
    dtype, device : optional
        Of the parameters and buffers (default: torch's default dtype, CPU); ``.to()`` moves both.
    generator : torch.Generator, optional
        Source of the initial coefficients (default: torch's global generator, as ``nn.Linear``).

    Attributes
    ----------
    coefficients : nn.Parameter of shape (n_weights,)
        :math:`c`; ``n_weights = dim Hom_G(rep_in, rep_out)``.
    bias_coefficients : nn.Parameter of shape (n_bias,) or None
        Coordinates of :math:`b` in the invariant subspace.

    Examples
    --------
    >>> import torch, symlie as sl
    >>> from symlie.torch import EquivariantLinear
    >>> G = sl.SO(3)
    >>> layer = EquivariantLinear(2 * sl.V(G), sl.V(G) + sl.Scalar)
    >>> layer.coefficients.shape, layer(torch.zeros(4, 6)).shape
    (torch.Size([2]), torch.Size([4, 4]))
    """

    _inverse_in: torch.Tensor
    _inverse_out: torch.Tensor
    _order_in: torch.Tensor
    _order_out: torch.Tensor

    def __init__(
        self,
        rep_in: Rep,
        rep_out: Rep,
        *,
        bias: bool = True,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        plan = linear_plan(rep_in, rep_out)
        self.rep_in, self.rep_out = rep_in, rep_out
        self.in_features, self.out_features = rep_in.size, rep_out.size
        self._plan = plan
        factory: dict[str, Any] = {"dtype": dtype or torch.get_default_dtype(), "device": device}
        lin, lout = plan.layout_in, plan.layout_out
        self._in_sizes = [p.shape for p in lin.positions]  # (m_a, d_a)
        self._out_sizes = [p.shape for p in lout.positions]
        self._blocks: dict[tuple[int, int], tuple[int, int, int]] = {}  # (b, a) -> (buffer index, k, offset)
        offset = 0
        for i, (b, a, mats) in enumerate(plan.blocks):
            self.register_buffer(f"_basis_{i}", torch.tensor(mats, **factory), persistent=False)
            self._blocks[(b, a)] = (i, mats.shape[0], offset)
            offset += mats.shape[0] * self._out_sizes[b][0] * self._in_sizes[a][0]
        self._bias_blocks: dict[int, tuple[int, int, int]] = {}
        bias_offset = 0
        for i, (b, vectors) in enumerate(plan.bias_blocks):
            self.register_buffer(f"_invariant_{i}", torch.tensor(vectors, **factory), persistent=False)
            self._bias_blocks[b] = (i, vectors.shape[0], bias_offset)
            bias_offset += vectors.shape[0] * self._out_sizes[b][0]
        self.coefficients = nn.Parameter(torch.empty(plan.n_weights, **factory))
        self.bias_coefficients = nn.Parameter(torch.zeros(plan.n_bias, **factory)) if bias and plan.n_bias else None
        long: dict[str, Any] = {"dtype": torch.long, "device": device}
        self._permute_in = not lin.is_grouped
        self._permute_out = not lout.is_grouped
        self.register_buffer("_inverse_in", torch.tensor(_inverse(lin.order), **long), persistent=False)
        self.register_buffer("_inverse_out", torch.tensor(_inverse(lout.order), **long), persistent=False)
        self.register_buffer("_order_in", torch.tensor(lin.order.tolist(), **long), persistent=False)
        self.register_buffer("_order_out", torch.tensor(lout.order.tolist(), **long), persistent=False)
        sizes_in = [m * d for m, d in self._in_sizes]
        self._inputs_of = [
            [a for a in range(len(sizes_in)) if (b, a) in self._blocks] for b in range(len(self._out_sizes))
        ]
        # Inputs are split into runs (contiguous in both the representation and one type's grouped coordinates);
        # with too many runs they are gathered into grouped order first (one run per type). Same for outputs.
        self._gather_in = len(lin.runs) > MAX_RUNS
        in_runs = _grouped_runs(self._in_sizes) if self._gather_in else lin.runs
        self._in_lengths = [length for _, length, _, _ in in_runs]
        self._runs_of_type: list[list[tuple[int, int, int]]] = [[] for _ in sizes_in]
        for i, (_, length, a, offset) in enumerate(in_runs):
            self._runs_of_type[a].append((i, offset, length))
        self._gather_out = len(lout.runs) > MAX_RUNS
        self._out_runs = [(b, offset, length) for _, length, b, offset in lout.runs]
        dense = self.in_features * self.out_features
        nonzero = sum(self._out_sizes[b][0] * self._out_sizes[b][1] * sizes_in[a] for b, a in self._blocks)
        #: Compute ``x W^T`` block by block (skipping zero blocks) instead of one dense product; chosen when at
        #: most this fraction of ``W`` is in non-zero blocks. Set it to False/True to force either path.
        self.block_sparse = dense > 0 and nonzero <= BLOCK_SPARSE_FRACTION * dense
        self.reset_parameters(generator=generator)

    def _buffer(self, name: str) -> torch.Tensor:
        return cast(torch.Tensor, getattr(self, name))

    def _apply(self, fn: Any, recurse: bool = True) -> EquivariantLinear:  # type: ignore[override]
        """After ``.to()``, ``.double()``, ...: rebuild the bases from the float64 plan in the new dtype.

        Converting float32 buffers to float64 would keep their float32 rounding, and the weight would be
        equivariant only to about 1e-8; rounding the exact float64 bases once keeps it exact in every dtype.
        """
        super()._apply(fn, recurse)
        arrays = [(f"_basis_{i}", mats) for i, (_, _, mats) in enumerate(self._plan.blocks)]
        arrays += [(f"_invariant_{i}", vectors) for i, (_, vectors) in enumerate(self._plan.bias_blocks)]
        for name, array in arrays:
            current = self._buffers[name]
            if current is not None:
                self._buffers[name] = torch.tensor(array, dtype=current.dtype, device=current.device)
        return self

    @property
    def plan(self) -> LinearPlan:
        """The cached structure (term types, positions and block bases) of this layer."""
        return self._plan

    def reset_parameters(self, *, generator: torch.Generator | None = None) -> None:
        """Normal coefficients scaled so that unit-variance inputs give outputs of variance about one."""
        fan = [0.0] * len(self._out_sizes)
        for (b, a), (_, k, _) in self._blocks.items():
            fan[b] += self._in_sizes[a][0] * k / self._out_sizes[b][1]
        with torch.no_grad():
            for (b, a), (_, k, offset) in self._blocks.items():
                count = k * self._out_sizes[b][0] * self._in_sizes[a][0]
                piece = self.coefficients[offset : offset + count]
                piece.normal_(0.0, 1.0 / math.sqrt(fan[b]), generator=generator)
            if self.bias_coefficients is not None:
                self.bias_coefficients.zero_()

    def _block(self, b: int, a: int) -> torch.Tensor | None:
        """Block ``(b, a)`` of the weight in grouped coordinates, shape (m_b d_b, m_a d_a), or None when zero."""
        entry = self._blocks.get((b, a))
        if entry is None:
            return None
        (m_b, d_b), (m_a, d_a) = self._out_sizes[b], self._in_sizes[a]
        index, k, offset = entry
        C = self.coefficients[offset : offset + k * m_b * m_a].view(k, m_b, m_a)
        B = self._buffer(f"_basis_{index}")
        if d_b == 1 and d_a == 1:
            return torch.tensordot(B[:, 0, 0], C, dims=1)
        return torch.einsum("knm,kji->njmi", C, B).reshape(m_b * d_b, m_a * d_a)

    def weight(self) -> torch.Tensor:
        """The assembled weight matrix :math:`W`, shape (out_features, in_features)."""
        c = self.coefficients
        rows = []
        for b, (m_b, d_b) in enumerate(self._out_sizes):
            cols = []
            for a, (m_a, d_a) in enumerate(self._in_sizes):
                block = self._block(b, a)
                cols.append(c.new_zeros(m_b * d_b, m_a * d_a) if block is None else block)
            rows.append(cols[0] if len(cols) == 1 else torch.cat(cols, dim=1))
        W = rows[0] if len(rows) == 1 else torch.cat(rows, dim=0)
        if self._permute_out:
            W = W.index_select(0, self._inverse_out)
        if self._permute_in:
            W = W.index_select(1, self._inverse_in)
        return W

    def bias(self) -> torch.Tensor | None:
        """The assembled bias :math:`b`, shape (out_features,), or None without a bias."""
        if self.bias_coefficients is None:
            return None
        c = self.bias_coefficients
        pieces = []
        for b, (m_b, d_b) in enumerate(self._out_sizes):
            entry = self._bias_blocks.get(b)
            if entry is None:
                pieces.append(c.new_zeros(m_b * d_b))
                continue
            index, k0, offset = entry
            C = c[offset : offset + m_b * k0].view(m_b, k0)
            pieces.append((C @ self._buffer(f"_invariant_{index}")).reshape(-1))
        vector = pieces[0] if len(pieces) == 1 else torch.cat(pieces)
        return vector.index_select(0, self._inverse_out) if self._permute_out else vector

    def _type_biases(self) -> list[torch.Tensor | None]:
        """The bias of each output type in grouped coordinates (None where there is none)."""
        out: list[torch.Tensor | None] = [None] * len(self._out_sizes)
        if self.bias_coefficients is None:
            return out
        for b, (index, k0, offset) in self._bias_blocks.items():
            m_b = self._out_sizes[b][0]
            C = self.bias_coefficients[offset : offset + m_b * k0].view(m_b, k0)
            out[b] = (C @ self._buffer(f"_invariant_{index}")).reshape(-1)
        return out

    def _forward_blocks(self, x: torch.Tensor) -> torch.Tensor:
        """``x W^T + b`` computed block by block, skipping the zero blocks of ``W``."""
        if self._gather_in:
            x = x.index_select(-1, self._order_in)
        parts = x.split(self._in_lengths, dim=-1)  # one split: its backward is one concatenation
        bias = self._type_biases()
        pieces = []
        for b, (m_b, d_b) in enumerate(self._out_sizes):
            total = None
            for a in self._inputs_of[b]:
                W = self._block(b, a)
                if W is None:  # pragma: no cover - _inputs_of lists non-zero blocks only
                    continue
                for i, offset, length in self._runs_of_type[a]:
                    if offset or length != W.shape[1]:
                        part = nn.functional.linear(parts[i], W[:, offset : offset + length])
                    else:
                        part = nn.functional.linear(parts[i], W)
                    total = part if total is None else total + part
            if total is None:
                total = x.new_zeros(*x.shape[:-1], m_b * d_b)
            bias_b = bias[b]
            pieces.append(total if bias_b is None else total + bias_b)
        if self._gather_out:
            y = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=-1)
            return y.index_select(-1, self._inverse_out) if self._permute_out else y
        if len(self._out_runs) == 1:
            return pieces[0]
        return torch.cat([pieces[b][..., offset : offset + length] for b, offset, length in self._out_runs], dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layer.

        Parameters
        ----------
        x : Tensor of shape (..., rep_in.size)

        Returns
        -------
        Tensor of shape (..., rep_out.size)
        """
        check_features(x, self.in_features)
        if self.block_sparse:
            return self._forward_blocks(x)
        return nn.functional.linear(x, self.weight(), self.bias())

    def extra_repr(self) -> str:
        return (
            f"{self.rep_in!r} -> {self.rep_out!r}, n_weights={self._plan.n_weights}, "
            f"bias={self.bias_coefficients is not None}"
        )


def _grouped_runs(sizes: list[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
    """One run per type in grouped coordinates: ``(start, length, type, 0)``."""
    out, start = [], 0
    for a, (m, d) in enumerate(sizes):
        out.append((start, m * d, a, 0))
        start += m * d
    return out


def _inverse(order: np.ndarray) -> list[int]:
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return inverse.tolist()
