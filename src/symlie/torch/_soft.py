r"""Soft equivariance in the sense of Residual Pathway Priors (Finzi, Benton, Wilson, NeurIPS 2021).

Each layer is the sum of an exactly equivariant path and a free path, :math:`W = W_{eq} + W_{free}`. A prior that is
much tighter on the free path (a larger weight decay) makes the model equivariant unless the data pay for the
deviation: the negative log prior is

.. math:: \frac{\lVert \theta_{free} \rVert^2}{2 \sigma_{free}^2} + \frac{\lVert \theta_{eq} \rVert^2}{2 \sigma_{eq}^2},
          \qquad \sigma_{free} \ll \sigma_{eq}.
"""

from __future__ import annotations

import torch
from torch import nn

from .._errors import SymlieValueError
from .._reps import Rep
from ._linear import EquivariantLinear, check_features

__all__ = ["SoftEquivariantLinear", "rpp_penalty"]


class SoftEquivariantLinear(nn.Module):
    r"""An :class:`EquivariantLinear` path plus a free ``nn.Linear`` path, :math:`y = (W_{eq} + W_{free}) x + b`.

    The free path starts at zero, so a new layer is exactly equivariant; :func:`rpp_penalty` keeps it small.

    Parameters
    ----------
    rep_in, rep_out : Rep
    bias : bool, default True
        Bias of both paths (the free bias is unconstrained).
    dtype, device, generator : optional
        As in :class:`EquivariantLinear`.

    Examples
    --------
    >>> import torch, symlie as sl
    >>> layer = SoftEquivariantLinear(sl.V(sl.SO(3)), sl.V(sl.SO(3)))
    >>> layer.deviation().item()
    0.0
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
        self.rep_in, self.rep_out = rep_in, rep_out
        self.in_features, self.out_features = rep_in.size, rep_out.size
        self.equivariant = EquivariantLinear(
            rep_in, rep_out, bias=bias, dtype=dtype, device=device, generator=generator
        )
        self.free = nn.Linear(rep_in.size, rep_out.size, bias=bias, dtype=dtype, device=device)
        with torch.no_grad():
            self.free.weight.zero_()
            if self.free.bias is not None:
                self.free.bias.zero_()

    def weight(self) -> torch.Tensor:
        """The total weight :math:`W_{eq} + W_{free}`, shape (out_features, in_features)."""
        return self.equivariant.weight() + self.free.weight

    def deviation(self) -> torch.Tensor:
        r"""Squared norm of the free path, :math:`\lVert W_{free} \rVert_F^2 + \lVert b_{free} \rVert^2`."""
        total = self.free.weight.square().sum()
        if self.free.bias is not None:
            total = total + self.free.bias.square().sum()
        return total

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply both paths to ``x`` of shape (..., rep_in.size); returns (..., rep_out.size)."""
        check_features(x, self.in_features)
        return self.equivariant(x) + self.free(x)

    def extra_repr(self) -> str:
        return f"{self.rep_in!r} -> {self.rep_out!r} (equivariant + free path)"


def rpp_penalty(model: nn.Module, *, free: float = 1.0, equivariant: float = 0.0) -> torch.Tensor:
    r"""The residual-pathway prior of every :class:`SoftEquivariantLinear` in ``model``.

    .. math:: \lambda_{free} \sum_l \lVert \theta^{(l)}_{free} \rVert^2
              + \lambda_{eq} \sum_l \lVert \theta^{(l)}_{eq} \rVert^2

    Parameters
    ----------
    model : nn.Module
    free : float, default 1.0
        Weight :math:`\lambda_{free} = 1 / (2 \sigma_{free}^2)` of the free paths.
    equivariant : float, default 0.0
        Weight :math:`\lambda_{eq}` of the equivariant coefficients (a mild weight decay).

    Returns
    -------
    Tensor
        A scalar, differentiable in the parameters.

    Raises
    ------
    SymlieValueError
        If ``model`` has no :class:`SoftEquivariantLinear` layer or a weight is negative.

    Examples
    --------
    >>> import symlie as sl
    >>> from symlie.torch import EMLP
    >>> G = sl.SO(3)
    >>> model = EMLP(sl.V(G), sl.Scalar, G, hidden=24, layers=1, soft=True)
    >>> rpp_penalty(model, free=10.0).item()
    0.0
    """
    for name, value in (("free", free), ("equivariant", equivariant)):
        if not value >= 0:
            raise SymlieValueError(f"{name} must be a non-negative weight, got {value!r}")
    layers = [m for m in model.modules() if isinstance(m, SoftEquivariantLinear)]
    if not layers:
        raise SymlieValueError(
            "model has no SoftEquivariantLinear layer; build it with soft=True (EMLP) or use SoftEquivariantLinear"
        )
    total = sum((free * layer.deviation() for layer in layers), torch.zeros(()))
    if equivariant:
        for layer in layers:
            total = total + equivariant * sum(p.square().sum() for p in layer.equivariant.parameters())
    return total
