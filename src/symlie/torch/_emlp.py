r"""Equivariant multilayer perceptrons for any matrix group symlie knows (EMLP-style, but fast).

One block maps a representation :math:`R` to the hidden representation :math:`H`:

1. *bilinear features* (optional): two equivariant projections :math:`l, r : R \to c \cdot B` with
   :math:`B = \mathrm{Scalar} \oplus V`, and the products :math:`0.1\, l_i \otimes r_i \in B \otimes B` of the
   ``c`` channels (``s s'``, ``s v'``, ``v s'``, ``v \otimes v'``, laid out grouped by type): a per-sample outer
   product of ``c`` small vectors, not a Kronecker product of the whole hidden state;
2. an :class:`EquivariantLinear` from :math:`R \oplus c\,(B \otimes B)` to :math:`\mathrm{gated}(H)`;
3. a :class:`GatedNonlinearity` back to :math:`H`.

The head is an :class:`EquivariantLinear` from :math:`H` to the output representation. Hidden representations come
from a width by :func:`uniform_rep` (mixtures of ``Scalar``, ``V`` and ``V (x) V`` copies with similar total sizes)
and are laid out component by component (:func:`~symlie.torch._components.type_components`: types with no
equivariant maps between them, such as odd and even tensor orders of O(n), in separate runs, scalars last). Every
basis is precomputed once (and cached across layers and models); a forward pass is one dense product per component
of each layer, read from contiguous runs of the input without concatenating it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .._errors import GroupMismatchError, SymlieTypeError, SymlieValueError
from .._groups import Group
from .._reps import Rep, Scalar, V
from .._validation import check_positive_int
from ._components import type_components
from ._linear import EquivariantLinear, _inverse, check_features
from ._nonlinear import GatedNonlinearity, gated
from ._soft import SoftEquivariantLinear
from ._structure import Factors, common_group, rep_layout, term_rep

__all__ = ["EMLP", "BilinearFeatures", "EMLPBlock", "uniform_rep"]


def uniform_rep(group: Group, width: int, *, max_order: int = 2) -> Rep:
    r"""A hidden representation of about ``width`` dimensions spread evenly over tensor orders.

    About ``width / (max_order + 1)`` dimensions go to each of :math:`V^{\otimes 0}` (scalars),
    :math:`V^{\otimes 1}`, ..., :math:`V^{\otimes p}`; there is always at least one copy of ``V``.

    Parameters
    ----------
    group : Group
    width : int
        Target dimension of the representation.
    max_order : int, default 2
        Highest tensor order used.

    Returns
    -------
    Rep

    Examples
    --------
    >>> import symlie as sl
    >>> H = uniform_rep(sl.O(5), 384)
    >>> H, H.size
    (128*Scalar + 26*V(O(5)) + 5*V(O(5))**2, 383)
    """
    if not isinstance(group, Group):
        raise SymlieTypeError(f"group must be a symlie Group, got {type(group).__name__}")
    width = check_positive_int(width, "width")
    max_order = check_positive_int(max_order, "max_order")
    base = V(group)
    share = width / (max_order + 1)
    rep: Rep | None = None
    for order in range(max_order + 1):
        size = base.size**order
        copies = round(share / size)
        if order == 1:
            copies = max(copies, 1)
        if copies:
            part = copies * (base**order if order else Scalar)
            rep = part if rep is None else rep + part
    if rep is None:  # pragma: no cover - order 1 always contributes
        raise SymlieValueError(f"width {width} is too small")
    return rep


class BilinearFeatures(nn.Module):
    r"""Products of ``channels`` pairs of equivariant projections: :math:`x \mapsto (l_i(x) \otimes r_i(x))_i`.

    :math:`l = L x` and :math:`r = R x` are :class:`EquivariantLinear` maps into ``channels`` copies of
    ``factor``, so each product lies in ``factor (x) factor``. All ``channels`` outer products are taken at once,
    directly in an order grouped by term type (``s s'``, ``s v'`` and ``v s'``, ``v (x) v'`` for
    ``factor = Scalar + V``): two gathers of the projected channels and one elementwise product (not a Kronecker
    product of the whole hidden state), so the next layer reads each type as one contiguous run.

    Parameters
    ----------
    rep_in : Rep
    factor : Rep
        Representation of each projected channel (``Scalar + V(G)`` in :class:`EMLP`).
    channels : int
    scale : float, default 0.1
        The products are multiplied by it: a small start keeps the network close to its linear-and-gated part
        at initialisation, which trains markedly better than unit-scale products (whose tails are heavy).
    linear : type, default EquivariantLinear
        Layer class of the projection (``SoftEquivariantLinear`` for soft models).
    types : sequence of factor tuples, optional
        Order of the product types in the output (types not listed follow in order of appearance); default:
        order of appearance in ``factor (x) factor``.
    dtype, device, generator : optional

    Attributes
    ----------
    rep_out : Rep
        ``sum_t m_t T_t`` over the product types ``T_t``: ``channels * (factor * factor)`` with its coordinates
        grouped by type.

    Examples
    --------
    >>> import torch, symlie as sl
    >>> G = sl.O(3)
    >>> features = BilinearFeatures(2 * sl.V(G), sl.Scalar + sl.V(G), 2)
    >>> features.rep_out, features(torch.randn(4, 6)).shape
    (2*Scalar + 4*V(O(3)) + 2*V(O(3))**2, torch.Size([4, 32]))
    """

    _left: torch.Tensor
    _right: torch.Tensor

    def __init__(
        self,
        rep_in: Rep,
        factor: Rep,
        channels: int,
        *,
        scale: float = 0.1,
        linear: type[nn.Module] = EquivariantLinear,
        types: Sequence[Factors] | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        c = self.channels = check_positive_int(channels, "channels")
        self.rep_in, self.scale = rep_in, float(scale)
        layout = rep_layout(factor)
        group = common_group(rep_in, factor)
        parts = [
            (m * term_rep(group, f), m * d) for f, (m, d) in zip(layout.types, (p.shape for p in layout.positions))
        ]
        self._widths = [width for _, width in parts]
        projected = sum(((2 * c) * rep for rep, _ in parts[1:]), (2 * c) * parts[0][0])
        self.project = linear(rep_in, projected, bias=True, dtype=dtype, device=device, generator=generator)
        # Position in z = project(x) of (side, channel, factor coordinate): replay the layout of the projection.
        ids = np.arange(projected.size)
        sizes = np.cumsum([0] + [2 * c * w for w in self._widths])
        full = np.concatenate([ids[a:b].reshape(2, c, -1) for a, b in itertools.pairwise(sizes)], axis=-1)
        full = full[..., _inverse(layout.order)]  # grouped -> natural coordinates of the factor
        f = factor.size
        left = np.broadcast_to(full[0][:, :, None], (c, f, f)).reshape(-1)  # natural product coordinates
        right = np.broadcast_to(full[1][:, None, :], (c, f, f)).reshape(-1)
        products = rep_layout(c * (factor * factor))  # coordinates (channel, i, j) of l_i (x) r_i, row-major
        rank = {t: i for i, t in enumerate(types or ())}
        found = sorted(range(len(products.types)), key=lambda a: (rank.get(products.types[a], len(rank)), a))
        perm = np.concatenate([products.positions[a].reshape(-1) for a in found])
        long: dict[str, Any] = {"dtype": torch.long, "device": device}
        self.register_buffer("_left", torch.tensor(left[perm], **long), persistent=False)
        self.register_buffer("_right", torch.tensor(right[perm], **long), persistent=False)
        reps = [products.positions[a].shape[0] * term_rep(group, products.types[a]) for a in found]
        self.rep_out = sum(reps[1:], reps[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of ``x`` (..., rep_in.size); returns (..., rep_out.size)."""
        z = self.project(x)
        # Every product l_i[p] r_i[q] in the output order: two gathers from z and one elementwise product.
        return (self.scale * z).index_select(-1, self._left) * z.index_select(-1, self._right)


class EMLPBlock(nn.Module):
    """Bilinear features (optional), an equivariant linear layer to ``gated(hidden)`` and the gates.

    The input and the bilinear features are concatenated component by component (see
    :func:`~symlie.torch._components.type_components`), so the linear layer's weight is block diagonal with
    contiguous blocks and costs one matrix product per block.
    """

    def __init__(
        self,
        rep_in: Rep,
        hidden: Rep,
        *,
        factor: Rep | None,
        channels: int,
        linear: type[nn.Module] = EquivariantLinear,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        options: dict[str, Any] = {"dtype": dtype, "device": device, "generator": generator}
        self._pieces: list[tuple[int, int]] | None = None
        if factor is not None and channels:
            group = common_group(rep_in, hidden, factor)
            found = [f for f, _ in rep_in.terms()] + list(rep_layout(factor * factor).types)
            found += [f for f, _ in gated(hidden).terms()]
            ordered = _type_order(group, tuple(dict.fromkeys(tuple(f) for f in found)))
            self.bilinear: BilinearFeatures | None = BilinearFeatures(
                rep_in, factor, channels, linear=linear, types=ordered, **options
            )
            rank = {t: i for i, t in enumerate(ordered)}
            joint = self._joint(group, rep_in, self.bilinear.rep_out, rank)
        else:
            self.bilinear = None
            joint = rep_in
        self.linear = linear(joint, gated(hidden), bias=True, **options)
        self.gate = GatedNonlinearity(hidden)
        self.rep_in, self.rep_out = rep_in, hidden

    def _joint(self, group: Group | None, x: Rep, p: Rep, rank: dict[Factors, int]) -> Rep:
        """``x + p`` with the runs of both laid out type by type in ``rank`` order; sets the concatenation plan."""
        segments: list[list[Any]] = []  # [rank, source, start, size, factors, copies]
        for source, rep in enumerate((x, p)):
            for factors, where in rep.terms():
                start, size, key = int(where[0]), len(where), tuple(factors)
                if not np.array_equal(where, np.arange(start, start + size)):
                    return x + p  # a term with scattered coordinates: keep the plain concatenation
                last = segments[-1] if segments else None
                if last is not None and (last[1], last[4]) == (source, key) and last[2] + last[3] == start:
                    last[3] += size
                    last[5] += 1
                else:
                    segments.append([rank[key], source, start, size, key, 1])
        segments.sort(key=lambda seg: (seg[0], seg[1], seg[2]))
        runs: list[list[int]] = []  # [source, start, size] of the concatenated pieces
        for _, source, start, size, _, _ in segments:
            if runs and runs[-1][0] == source and runs[-1][1] + runs[-1][2] == start:
                runs[-1][2] += size
            else:
                runs.append([source, start, size])
        splits: list[list[int]] = [[], []]
        for source, size in ((0, x.size), (1, p.size)):
            cuts = sorted({0, size} | {run[1] for run in runs if run[0] == source})
            splits[source] = [b - a for a, b in itertools.pairwise(cuts)]
        pieces = [(source, int(np.searchsorted(np.cumsum([0, *splits[source]]), start))) for source, start, _ in runs]
        self._splits = splits
        plain = [(0, i) for i in range(len(splits[0]))] + [(1, i) for i in range(len(splits[1]))]
        self._pieces = None if pieces == plain else pieces
        reps = [copies * term_rep(group, key) for _, _, _, _, key, copies in segments]
        return sum(reps[1:], reps[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``x`` (..., rep_in.size) to (..., hidden.size): ``gate(linear([x, p(x)]))``, ``p`` the products."""
        if self.bilinear is not None:
            p = self.bilinear(x)
            if self._pieces is None:
                x = torch.cat([x, p], dim=-1)
            else:
                parts = (x.split(self._splits[0], -1), p.split(self._splits[1], -1))
                pieces = [parts[source][i] for source, i in self._pieces]
                if isinstance(self.linear, EquivariantLinear):  # no concatenation: the products read the pieces
                    return self.gate(self.linear.forward_pieces(pieces))
                x = torch.cat(pieces, dim=-1)
        return self.gate(self.linear(x))


class EMLP(nn.Module):
    r"""An equivariant MLP :math:`f(\rho_{in}(g) x) = \rho_{out}(g) f(x)` for every ``g`` in ``group``.

    Parameters
    ----------
    rep_in, rep_out : Rep
        Representations of ``group`` (or :data:`~symlie.Scalar` multiples); mixed representations and product
        groups (``V(G, factor=i)``) are supported.
    group : Group
    hidden : int or Rep, default 256
        A width (hidden representation from :func:`uniform_rep`) or the hidden representation itself.
    layers : int, default 3
        Number of hidden blocks.
    bilinear : bool, default True
        Add bilinear features in every block (products of ``bilinear_channels`` projected channels). Without them
        the first layer cannot form invariants such as inner products from vector inputs.
    bilinear_channels : int, optional
        Default: ``hidden.size // (1 + n)^2`` with ``n = V(group).size``, between 2 and 8.
    soft : bool, default False
        Use :class:`SoftEquivariantLinear` layers (residual pathway prior; see :func:`rpp_penalty`).
    dtype, device : optional
    seed : int, optional
        Seed of the initial weights (default: torch's global generator).

    Examples
    --------
    >>> import torch, symlie as sl
    >>> G = sl.O(3)
    >>> model = EMLP(2 * sl.V(G), sl.Scalar, G, hidden=32, layers=2, seed=0)
    >>> model(torch.randn(5, 6)).shape
    torch.Size([5, 1])
    """

    def __init__(
        self,
        rep_in: Rep,
        rep_out: Rep,
        group: Group,
        *,
        hidden: int | Rep = 256,
        layers: int = 3,
        bilinear: bool = True,
        bilinear_channels: int | None = None,
        soft: bool = False,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(group, Group):
            raise SymlieTypeError(f"group must be a symlie Group such as sl.O(5), got {type(group).__name__}")
        for name, rep in (("rep_in", rep_in), ("rep_out", rep_out)):
            if not isinstance(rep, Rep):
                raise SymlieTypeError(f"{name} must be a symlie Rep, got {type(rep).__name__}")
            if rep.group is not None and rep.group != group:
                raise GroupMismatchError(f"{name} is a representation of {rep.group.name}, not of {group.name}")
        layers = check_positive_int(layers, "layers", minimum=0)
        if isinstance(hidden, Rep):
            if hidden.group is not None and hidden.group != group:
                raise GroupMismatchError(f"hidden is a representation of {hidden.group.name}, not of {group.name}")
            hidden_rep = hidden
        else:
            hidden_rep = uniform_rep(group, check_positive_int(hidden, "hidden"))
        factor = Scalar + V(group)
        if not isinstance(hidden, Rep):
            hidden_rep = _by_component(group, hidden_rep, factor)
        if bilinear_channels is None:
            channels = min(8, max(2, hidden_rep.size // factor.size**2))
        else:
            channels = check_positive_int(bilinear_channels, "bilinear_channels", minimum=0)
        self.rep_in, self.rep_out, self.group, self.hidden = rep_in, rep_out, group, hidden_rep
        generator = torch.Generator(device="cpu").manual_seed(seed) if seed is not None else None
        if device is not None and torch.device(device).type != "cpu":
            generator = None if seed is None else torch.Generator(device=device).manual_seed(seed)
        linear = SoftEquivariantLinear if soft else EquivariantLinear
        options: dict[str, Any] = {"dtype": dtype, "device": device, "generator": generator}
        blocks, current = [], rep_in
        block_factor = factor if bilinear else None
        for _ in range(layers):
            block = EMLPBlock(current, hidden_rep, factor=block_factor, channels=channels, linear=linear, **options)
            blocks.append(block)
            current = block.rep_out
        self.blocks = nn.ModuleList(blocks)
        self.head = linear(current, rep_out, bias=True, **options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluate the network.

        Parameters
        ----------
        x : Tensor of shape (..., rep_in.size)

        Returns
        -------
        Tensor of shape (..., rep_out.size)
        """
        check_features(x, self.rep_in.size)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def _type_order(group: Group | None, types: tuple[Factors, ...]) -> list[Factors]:
    """``types`` component by component (:func:`type_components`), the trivial type last within its component.

    Layouts in this order make equivariant weights block diagonal with contiguous blocks, and put the scalars of a
    component (whose products with contracted inputs are computed apart) in one run.
    """
    labels = dict(zip(types, type_components(group, types)))
    return sorted(types, key=lambda t: (labels[t], t == (), types.index(t)))


def _by_component(group: Group, rep: Rep, factor: Rep) -> Rep:
    """``rep`` with its term types in :func:`_type_order` (with the types of ``factor (x) factor`` and scalars)."""
    layout = rep_layout(rep)
    order = _type_order(group, tuple(dict.fromkeys([*layout.types, *rep_layout(factor * factor).types, ()])))
    found = sorted(range(len(layout.types)), key=lambda a: order.index(layout.types[a]))
    reps = [layout.positions[a].shape[0] * term_rep(group, layout.types[a]) for a in found]
    return sum(reps[1:], reps[0])
