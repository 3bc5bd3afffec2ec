r"""Exactly equivariant linear layers between representations of any matrix group."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from .._errors import ShapeError
from .._reps import Rep
from ._components import Components, Entries, linear_components
from ._structure import LinearPlan, linear_plan

__all__ = ["BLOCK_SPARSE_FRACTION", "EquivariantLinear", "check_features"]

#: Use the product by components when at most this fraction of the weight lies in them.
BLOCK_SPARSE_FRACTION = 0.7
#: Above this many runs of consecutive coordinates, a component gathers its inputs (or the outputs are permuted).
MAX_RUNS = 8
#: Biases with at most this many entries in ``Q_b`` (out_features x n_bias) are assembled densely.
DENSE_BIAS = 1 << 16
#: Contractions read at most this many copies per block-diagonal product.
CHUNK = 16


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
    vector :attr:`coefficients`. Representations are split into copies of term types (``m_a T_a``) and each block
    is :math:`\sum_k C_k \otimes B_k` with ``B_k`` a basis of :math:`\mathrm{Hom}_G(T_a, T_b)`, so :math:`Q` is
    sparse; it is precomputed once as index/value buffers (shared plans cached per ``(rep_in, rep_out)``) and a
    forward pass assembles :math:`W` with one gather and one scatter-add, then takes one matrix product. When many
    entries of :math:`W` vanish for every :math:`c` (e.g. between vectors and scalars of O(n)), the coordinates are
    split into independent components and the product is taken per component (:attr:`block_sparse`).

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
    block_sparse : bool
        Compute ``x W^T`` component by component (set it to force either path).

    Examples
    --------
    >>> import torch, symlie as sl
    >>> from symlie.torch import EquivariantLinear
    >>> G = sl.SO(3)
    >>> layer = EquivariantLinear(2 * sl.V(G), sl.V(G) + sl.Scalar)
    >>> layer.coefficients.shape, layer(torch.zeros(4, 6)).shape
    (torch.Size([2]), torch.Size([4, 4]))
    """

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
        parts = linear_components(rep_in, rep_out)
        self.rep_in, self.rep_out = rep_in, rep_out
        self.in_features, self.out_features = rep_in.size, rep_out.size
        self._plan, self._parts = plan, parts
        factory: dict[str, Any] = {"dtype": dtype or torch.get_default_dtype(), "device": device}
        self._in_sizes = [p.shape for p in plan.layout_in.positions]  # (m_a, d_a)
        self._out_sizes = [p.shape for p in plan.layout_out.positions]
        self._blocks: list[tuple[int, int, int]] = []  # (b, a, k) in coefficient order
        for b, a, mats in plan.blocks:
            self._blocks.append((b, a, mats.shape[0]))
        self.coefficients = nn.Parameter(torch.empty(plan.n_weights, **factory))
        self.bias_coefficients = nn.Parameter(torch.zeros(plan.n_bias, **factory)) if bias and plan.n_bias else None
        # Sparse Q as (flat index, coefficient, value) buffers: the whole weight, then one set per component.
        self._values: list[tuple[str, np.ndarray]] = []
        self._entries("", parts.weight, parts.bias, factory)
        # The components' weights (and biases) side by side in one flat vector: one assembly per layer.
        self._shapes = [(len(p.outputs), p.width) for p in parts.parts]
        w_offsets = np.cumsum([0] + [o * i for o, i in self._shapes])
        b_offsets = np.cumsum([0] + [o for o, _ in self._shapes])
        self._sizes = ([int(n) for n in np.diff(w_offsets)], [int(n) for n in np.diff(b_offsets)])
        stacked = [
            tuple(
                np.concatenate([getattr(p, kind)[j] + (off[c] if j == 0 else 0) for c, p in enumerate(parts.parts)])
                for j in range(3)
            )
            for kind, off in (("weight", w_offsets), ("bias", b_offsets))
        ]
        self._entries("_parts", cast(Entries, stacked[0]), cast(Entries, stacked[1]), factory)
        #: Small biases are assembled as one dense matrix-vector product ``Q_b c_b`` (global and component order).
        self._dense_bias = self.bias_coefficients is not None and self.out_features * plan.n_bias <= DENSE_BIAS
        if self._dense_bias:
            for suffix, (rows, coef, value) in (("", parts.bias), ("_parts", cast(Entries, stacked[1]))):
                matrix = np.zeros((self.out_features, plan.n_bias))
                np.add.at(matrix, (rows, coef), value)
                self.register_buffer(f"_bias_matrix{suffix}", torch.tensor(matrix, **factory), persistent=False)
                self._values.append((f"_bias_matrix{suffix}", matrix))
        for i, part in enumerate(parts.parts):
            if len(part.runs) > MAX_RUNS:
                self.register_buffer(f"_inputs_{i}", torch.tensor(part.inputs, device=device), persistent=False)
        #: Programs (splits of the input, steps per product, contractors) per layout of the input pieces.
        plain = _program(parts, self.in_features)
        self._programs: dict[tuple[int, ...], Program | None] = {(): plain}
        self._splits, self._steps = plain[0], plain[1]
        self._contractors: dict[tuple[int, int], torch.Tensor] = {}
        whole = [(c, 0, self._shapes[c][0]) for c in range(len(parts.parts))]
        #: Output assembly: a concatenation of whole components, of row ranges, or a permutation.
        self._pieces: list[tuple[int, int, int]] | None = list(parts.pieces)
        if list(parts.pieces) == whole:
            self._pieces = [] if len(whole) == 1 else whole
        elif len(parts.pieces) > MAX_RUNS:
            self._pieces = None
            order = np.concatenate([p.outputs for p in parts.parts])
            self.register_buffer("_inverse_out", torch.tensor(_inverse(order), device=device), persistent=False)
        dense = self.in_features * self.out_features
        products = sum(len(steps) + sum(step[0] == "contract" for step in steps) for steps in self._steps)
        #: Take the product component by component: when it saves at least 30% of the multiply-adds, and at least
        #: about one small product's worth per extra product.
        self.block_sparse = dense > 0 and (
            parts.cost <= BLOCK_SPARSE_FRACTION * dense and dense - parts.cost >= 4096 * (products - 1)
        )
        self.reset_parameters(generator=generator)

    def _entries(self, suffix: str, weight: Entries, bias: Entries, factory: dict[str, Any]) -> None:
        for kind, (index, coef, value) in (("weight", weight), ("bias", bias)):
            device = factory["device"]
            self.register_buffer(f"_{kind}_index{suffix}", torch.tensor(index, device=device), persistent=False)
            self.register_buffer(f"_{kind}_coef{suffix}", torch.tensor(coef, device=device), persistent=False)
            self.register_buffer(f"_{kind}_value{suffix}", torch.tensor(value, **factory), persistent=False)
            self._values.append((f"_{kind}_value{suffix}", value))

    def _buffer(self, name: str) -> torch.Tensor:
        return cast(torch.Tensor, self._buffers[name])

    def _apply(self, fn: Any, recurse: bool = True) -> EquivariantLinear:  # type: ignore[override]
        """After ``.to()``, ``.double()``, ...: rebuild the values from the float64 plan in the new dtype.

        Converting float32 buffers to float64 would keep their float32 rounding, and the weight would be
        equivariant only to about 1e-8; rounding the exact float64 values once keeps it exact in every dtype.
        """
        super()._apply(fn, recurse)
        self._contractors = {}
        for name, array in self._values:
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
        for b, a, k in self._blocks:
            fan[b] += self._in_sizes[a][0] * k / self._out_sizes[b][1]
        with torch.no_grad():
            offset = 0
            for b, a, k in self._blocks:
                count = k * self._out_sizes[b][0] * self._in_sizes[a][0]
                piece = self.coefficients[offset : offset + count]
                piece.normal_(0.0, 1.0 / math.sqrt(fan[b]), generator=generator)
                offset += count
            if self.bias_coefficients is not None:
                self.bias_coefficients.zero_()

    def _assemble(self, c: torch.Tensor, kind: str, suffix: str, size: int) -> torch.Tensor:
        """``Q c`` from the sparse entries: a gather, a product and a scatter-add, shape (size,)."""
        if kind == "bias" and self._dense_bias:
            return torch.mv(self._buffer(f"_bias_matrix{suffix}"), c)
        index, coef = self._buffer(f"_{kind}_index{suffix}"), self._buffer(f"_{kind}_coef{suffix}")
        values = c.index_select(0, coef) * self._buffer(f"_{kind}_value{suffix}")
        return c.new_zeros(size).index_add(0, index, values)

    def weight(self) -> torch.Tensor:
        """The assembled weight matrix :math:`W`, shape (out_features, in_features)."""
        size = self.out_features * self.in_features
        return self._assemble(self.coefficients, "weight", "", size).view(self.out_features, self.in_features)

    def bias(self) -> torch.Tensor | None:
        """The assembled bias :math:`b`, shape (out_features,), or None without a bias."""
        if self.bias_coefficients is None:
            return None
        return self._assemble(self.bias_coefficients, "bias", "", self.out_features)

    def _contractor(self, j: int, n: int) -> torch.Tensor:
        """``I_n (x) F_j^T``: the invariant features of ``n`` consecutive copies in one product (cached)."""
        key = (j, n)
        if key not in self._contractors:
            F = self._parts.functionals[j]
            c = self.coefficients
            self._contractors[key] = torch.tensor(np.kron(np.eye(n), F.T), dtype=c.dtype, device=c.device)
        return self._contractors[key]

    def forward_pieces(self, pieces: Sequence[torch.Tensor]) -> torch.Tensor:
        """Apply the layer to an input given as consecutive pieces along the last axis, without concatenating them.

        Parameters
        ----------
        pieces : sequence of Tensor of shape (..., size_i)
            ``torch.cat(pieces, -1)`` is the input (the sizes add up to ``rep_in.size``).

        Returns
        -------
        Tensor of shape (..., rep_out.size)
        """
        sizes = tuple(int(p.shape[-1]) for p in pieces)
        if sum(sizes) != self.in_features:
            raise ShapeError(f"pieces must add up to {self.in_features} features, got sizes {sizes}")
        if not self.block_sparse or any(s[0] == "gather" for steps in self._steps for s in steps):
            return self(torch.cat(list(pieces), dim=-1))
        if sizes not in self._programs:
            try:
                self._programs[sizes] = _program(self._parts, self.in_features, np.cumsum(sizes).tolist())
            except _Misaligned:
                self._programs[sizes] = None
        if self._programs[sizes] is None:
            return self(torch.cat(list(pieces), dim=-1))
        splits = cast(Program, self._programs[sizes])[0]
        lead = pieces[0].shape[:-1]
        refined: list[torch.Tensor] = []
        for piece, size in zip(pieces, sizes):  # the program's cuts refine the pieces' boundaries
            inner: list[int] = []
            while sum(inner) < size:
                inner.append(splits[len(refined) + len(inner)])
            piece = piece.reshape(-1, size)
            refined.extend(piece.split(inner, dim=1) if len(inner) > 1 else (piece,))
        return self._forward_components(refined, sizes).view(*lead, self.out_features)

    def _forward_components(self, pieces: Sequence[torch.Tensor], key: tuple[int, ...] = ()) -> torch.Tensor:
        """``x W^T + b`` product by product from the pieces of the input (2-D), skipping vanishing entries of ``W``."""
        _, program, contractors = cast(Program, self._programs[key])
        n = len(pieces[0])
        flat = self._assemble(self.coefficients, "weight", "_parts", sum(self._sizes[0]))
        weights = flat.split(self._sizes[0]) if len(self._shapes) > 1 else (flat,)
        biases: Sequence[torch.Tensor | None] = [None] * len(self._shapes)
        if self.bias_coefficients is not None:
            bias = self._assemble(self.bias_coefficients, "bias", "_parts", self.out_features)
            biases = bias.split(self._sizes[1]) if len(self._shapes) > 1 else (bias,)
        ys = []
        for i, ((rows, cols), steps, w, b) in enumerate(zip(self._shapes, program, weights, biases)):
            if not cols:
                ys.append(pieces[0].new_zeros(n, rows) if b is None else b.expand(n, rows))
                continue
            W = w.view(rows, cols)
            y = b
            for kind, where, third, fourth in steps:
                if kind == "raw":
                    xr, column, width = pieces[where], third, fourth
                elif kind == "contract":  # invariant features of a few consecutive copies: one small product
                    xr = torch.mm(pieces[where], self._contractor(*contractors[third]))
                    column, width = fourth, xr.shape[1]
                else:
                    x2 = torch.cat(list(pieces), dim=1) if len(pieces) > 1 else pieces[0]
                    xr, column, width = x2.index_select(1, self._buffer(f"_inputs_{i}")), 0, fourth
                Wr = W if width == cols else W[:, column : column + width]
                y = torch.mm(xr, Wr.t()) if y is None else torch.addmm(y, xr, Wr.t())
            ys.append(cast(torch.Tensor, y))  # cols > 0: at least one step
        if self._pieces is None:
            y = torch.cat(ys, dim=1).index_select(1, self._buffer("_inverse_out"))
        elif not self._pieces:
            y = ys[0]
        else:
            y = torch.cat(
                [
                    ys[c] if start == 0 and n == ys[c].shape[1] else ys[c][:, start : start + n]
                    for c, start, n in self._pieces
                ],
                dim=1,
            )
        return y

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
            x2 = x.reshape(-1, self.in_features)
            pieces = x2.split(self._splits, dim=1) if len(self._splits) > 1 else (x2,)  # backward: one concatenation
            return self._forward_components(pieces).view(*x.shape[:-1], self.out_features)
        return nn.functional.linear(x, self.weight(), self.bias())

    def extra_repr(self) -> str:
        return (
            f"{self.rep_in!r} -> {self.rep_out!r}, n_weights={self._plan.n_weights}, "
            f"bias={self.bias_coefficients is not None}"
        )


Step = tuple[str, int, int, int]
Program = tuple[list[int], list[list[Step]], list[tuple[int, int]]]


class _Misaligned(Exception):
    """Input pieces cut a contracted copy."""


def _program(parts: Components, size: int, extra: Sequence[int] = ()) -> Program:
    """How each product reads its inputs: one split of the input into pieces, then per product a list of steps.

    Steps are ``("raw", piece, column, width)`` (the piece times ``W[:, column:column + width]``),
    ``("contract", piece, contractor, column)`` (the piece times a block-diagonal contractor ``I (x) F^T`` given
    as ``(functional, copies)``, then times the columns from ``column``) and ``("gather", 0, 0, width)`` (inputs
    gathered by index). Reading pieces of one split instead of slices makes the backward one concatenation instead
    of a zero-filled copy per slice. ``extra`` adds cut points (the boundaries of pieces the input arrives in).
    """
    cuts = {0, size, *extra}
    for part in parts.parts:
        if len(part.runs) <= MAX_RUNS:
            cuts |= {s for s, _, _ in part.runs} | {s + n for s, n, _ in part.runs}
        for start, copies, j, _ in part.contractions:
            d = parts.functionals[j].shape[1]
            cuts |= {start + d * c for c in range(0, copies, CHUNK)} | {start + copies * d}
    bounds = sorted(cuts)
    index = {start: i for i, start in enumerate(bounds[:-1])}
    steps: list[list[Step]] = []
    contractors: list[tuple[int, int]] = []
    found: dict[tuple[int, int], int] = {}
    for part in parts.parts:
        program: list[Step] = []
        if len(part.runs) > MAX_RUNS:
            program.append(("gather", 0, 0, len(part.inputs)))
        else:
            for start, length, column in part.runs:
                i = index[start]
                while bounds[i] < start + length:
                    program.append(("raw", i, column + bounds[i] - start, bounds[i + 1] - bounds[i]))
                    i += 1
        for start, copies, j, column in part.contractions:
            F = parts.functionals[j]  # (k, d)
            k, d = F.shape
            i = index[start]
            while bounds[i] < start + copies * d:
                if (bounds[i + 1] - start) % d:  # a piece boundary inside a copy: the caller concatenates
                    raise _Misaligned
                n = (bounds[i + 1] - bounds[i]) // d
                if (j, n) not in found:
                    found[(j, n)] = len(contractors)
                    contractors.append((j, n))
                program.append(("contract", i, found[(j, n)], column + k * (bounds[i] - start) // d))
                i += 1
        steps.append(program)
    return [b - a for a, b in itertools.pairwise(bounds)], steps, contractors


def _inverse(order: np.ndarray) -> list[int]:
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return inverse.tolist()
