r"""Equivariant multilayer perceptrons for any matrix group symlie knows (EMLP-style, but fast).

One block maps a representation :math:`R` to the hidden representation :math:`H`:

1. *bilinear features* (optional): two equivariant projections :math:`l, r : R \to c \cdot B` with
   :math:`B = \mathrm{Scalar} \oplus V`, and the products :math:`0.1\, l_i \otimes r_i \in B \otimes B` of the
   ``c`` channels (``s s'``, ``s v'``, ``v s'``, ``v \otimes v'``, laid out grouped by type): a per-sample outer
   product of ``c`` small vectors, not a Kronecker product of the whole hidden state;
2. an :class:`EquivariantLinear` from :math:`R \oplus c\,(B \otimes B)` to :math:`\mathrm{gated}(H)`;
3. a :class:`GatedNonlinearity` back to :math:`H`.

The head is an :class:`EquivariantLinear` from :math:`H` to the output representation. Hidden representations come
from a width by :func:`uniform_rep` (mixtures of ``Scalar``, ``V`` and ``V (x) V`` copies with similar total sizes).
Every basis is precomputed once (and cached across layers and models); a forward pass is a few matrix products,
taken block by block where the equivariant weights vanish (e.g. between scalars and vectors of O(n)).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .._errors import GroupMismatchError, SymlieTypeError, SymlieValueError
from .._groups import Group
from .._reps import Rep, Scalar, V
from .._validation import check_positive_int
from ._linear import EquivariantLinear, check_features
from ._nonlinear import GatedNonlinearity, gated
from ._soft import SoftEquivariantLinear
from ._structure import common_group, rep_layout, term_rep

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
    ``factor``, so each product lies in ``factor (x) factor``. The factor is split into its term types
    (``Scalar + V`` into ``Scalar`` and ``V``) and the products are taken type by type (``s s'``, ``s v'``,
    ``v s'``, ``v (x) v'``) and laid out grouped by the type of the product, so the next layer reads them as a few
    contiguous runs. The cost is one matrix product and outer products of small vectors.

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
    dtype, device, generator : optional

    Attributes
    ----------
    rep_out : Rep
        A sum over pairs of factor types ``(a, b)`` of ``channels * (m_a T_a) * (m_b T_b)``, grouped by type; as a
        whole it is ``channels * (factor * factor)`` with its coordinates permuted.
    """

    def __init__(
        self,
        rep_in: Rep,
        factor: Rep,
        channels: int,
        *,
        scale: float = 0.1,
        linear: type[nn.Module] = EquivariantLinear,
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
            (m * term_rep(group, f), f, m * d) for f, (m, d) in zip(layout.types, (p.shape for p in layout.positions))
        ]
        self._widths = [width for _, _, width in parts]
        projected = sum(((2 * c) * rep for rep, _, _ in parts[1:]), (2 * c) * parts[0][0])
        self.project = linear(rep_in, projected, bias=True, dtype=dtype, device=device, generator=generator)
        pairs = sorted(((fa + fb, a, b) for a, (_, fa, _) in enumerate(parts) for b, (_, fb, _) in enumerate(parts)))
        self._pairs = [(a, b) for _, a, b in pairs]
        reps = [c * (parts[a][0] * parts[b][0]) for a, b in self._pairs]
        self.rep_out = sum(reps[1:], reps[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of ``x`` (..., rep_in.size); returns (..., rep_out.size)."""
        z = self.project(x)
        c = self.channels
        pieces = [
            p.unflatten(-1, (2, c, w)) for p, w in zip(z.split([2 * c * w for w in self._widths], -1), self._widths)
        ]
        out = [
            (self.scale * pieces[a][..., 0, :, :, None] * pieces[b][..., 1, :, None, :]).flatten(-3)
            for a, b in self._pairs
        ]
        return torch.cat(out, dim=-1)


class EMLPBlock(nn.Module):
    """Bilinear features (optional), an equivariant linear layer to ``gated(hidden)`` and the gates."""

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
        self.bilinear = (
            BilinearFeatures(rep_in, factor, channels, linear=linear, **options)
            if factor is not None and channels
            else None
        )
        joint = rep_in + self.bilinear.rep_out if self.bilinear is not None else rep_in
        self.linear = linear(joint, gated(hidden), bias=True, **options)
        self.gate = GatedNonlinearity(hidden)
        self.rep_in, self.rep_out = rep_in, hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``x`` (..., rep_in.size) to (..., hidden.size): ``gate(linear([x, p(x)]))``, ``p`` the products."""
        if self.bilinear is not None:
            x = torch.cat([x, self.bilinear(x)], dim=-1)
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
