r"""Fit-then-discover for labelled data: ``sl.discover_from_data(X, y, algebra)``.

A model is fitted to :math:`(X, y)` and its symmetries are found with :func:`symlie.discover`; the returned
:class:`~symlie.DiscoveryReport` carries the fitted model in ``.model``.

* ``model="polynomial"``: least squares (optionally ridge) over a :class:`~symlie.PolynomialLibrary`,
  :math:`W = \arg\min \|\Theta(X) W^\top - Y\|^2 + \alpha \|W\|^2`. Discovery is exact (monomial coefficients);
  the null models are the same least-squares fits to randomly permuted targets, so noise in the coefficients is
  judged against what noise alone produces.
* ``model="mlp"``: a small torch MLP (SiLU, Adam, full batch or minibatches), float32. The null models are the same
  architecture trained on permuted targets (``null="shuffled"``, the default: as flexible as the fitted model, so
  its approximate symmetries are judged against those of a fit to noise) or re-initialised (``null="init"``).

Inputs are never standardised (that would change the symmetry); targets are divided by one overall scale (and
centred for invariant outputs), which commutes with every output action.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._dictionaries import PolynomialLibrary
from ._discover import discover
from ._discovery_report import DiscoveryReport, _as_algebra
from ._errors import ShapeError, SymlieValueError
from ._validation import as_float_array, check_positive_int, make_rng

__all__ = ["FittedPolynomial", "discover_from_data"]

_MODELS = ("polynomial", "mlp")


@dataclass(frozen=True, eq=False)
class FittedPolynomial:
    r"""A polynomial model :math:`F(x) = W \theta(x)` fitted by least squares.

    Attributes
    ----------
    library : PolynomialLibrary
    coef_ : ndarray of shape (n_outputs, n_terms)
        ``W`` in the scale of the targets.
    """

    library: PolynomialLibrary
    coef_: np.ndarray

    def predict(self, X: Any) -> np.ndarray:
        """Predictions, ndarray of shape (n_samples, n_outputs)."""
        X = as_float_array(X, "X", shape=(None, self.library.n_features))
        return self.library.evaluate(X) @ self.coef_.T


class _Nulls(list):  # type: ignore[type-arg]
    """A list of null models with a readable label for the report's rule."""

    def __init__(self, models: list[Any], label: str) -> None:
        super().__init__(models)
        self.label = label


def _least_squares(theta: np.ndarray, Y: np.ndarray, alpha: float) -> np.ndarray:
    """``W`` (n_out, L) minimising ``||theta W^T - Y||^2 + alpha ||W||^2`` (columns of theta scaled first)."""
    scale = np.linalg.norm(theta, axis=0)
    scale[scale == 0] = 1.0
    A = theta / scale
    if alpha > 0:
        A = np.vstack([A, np.sqrt(alpha) * np.diag(1.0 / scale)])
        Y = np.vstack([Y, np.zeros((theta.shape[1], Y.shape[1]))])
    W, *_ = np.linalg.lstsq(A, Y, rcond=None)
    return (W / scale[:, None]).T


def _make_mlp(n_in: int, n_out: int, hidden: Sequence[int], seed: int) -> Any:
    import torch

    layers: list[Any] = []
    width = n_in
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for h in hidden:
            layers += [torch.nn.Linear(width, h), torch.nn.SiLU()]
            width = h
        layers.append(torch.nn.Linear(width, n_out))
        return torch.nn.Sequential(*layers)


def _train_mlp(
    X: np.ndarray, Y: np.ndarray, hidden: Sequence[int], epochs: int, lr: float, batch_size: int | None, seed: int
) -> Any:
    """Adam with a cosine schedule on the mean squared error; float32; deterministic given ``seed``."""
    import torch

    net = _make_mlp(X.shape[1], Y.shape[1], hidden, seed)
    Xt, Yt = torch.tensor(X, dtype=torch.float32), torch.tensor(Y, dtype=torch.float32)
    opt = torch.optim.Adam(net.parameters(), lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    generator = torch.Generator().manual_seed(seed)
    batch = len(X) if batch_size is None else min(batch_size, len(X))
    for _ in range(epochs):
        perm = torch.randperm(len(X), generator=generator)
        for start in range(0, len(X), batch):
            idx = perm[start : start + batch]
            loss = torch.mean((net(Xt[idx]) - Yt[idx]) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
        schedule.step()
    return net.eval()


def discover_from_data(
    X: Any,
    y: Any,
    algebra: Any,
    output: Any = "invariant",
    *,
    model: str = "polynomial",
    degree: int = 2,
    alpha: float = 0.0,
    hidden: Sequence[int] = (32, 32),
    epochs: int = 300,
    lr: float = 1e-2,
    batch_size: int | None = None,
    null: Any = "auto",
    n_null: int | None = None,
    seed: int | np.random.Generator | None = 0,
    **kwargs: Any,
) -> DiscoveryReport:
    r"""Fit a model to labelled data, then find its symmetries inside a candidate algebra (one call).

    .. math:: \hat F = \arg\min_F \sum_i \|F(x_i) - y_i\|^2, \qquad
              \mathrm{Sym}(\hat F) = \{\xi : D\hat F(x)\, v_\xi(x) - B_\xi(x) \hat F(x) = 0\}

    Parameters
    ----------
    X : array_like of shape (n_samples, n)
    y : array_like of shape (n_samples,) or (n_samples, n_outputs)
    algebra : LieAlgebra or Group
        The candidate (see :func:`symlie.discover`).
    output : {"invariant", "vector_field"}, Rep or LieAlgebra, default "invariant"
    model : {"polynomial", "mlp"}, default "polynomial"
    degree : int, default 2
        Polynomial degree (``model="polynomial"``).
    alpha : float, default 0.0
        Ridge penalty on the (column-scaled) polynomial coefficients.
    hidden : sequence of int, default (32, 32)
        MLP hidden widths.
    epochs, lr, batch_size : int, float, int or None
        MLP training: Adam with a cosine schedule; full batch when ``batch_size`` is None.
    null : "auto", "shuffled", "init", None or list of models, default "auto"
        Null models: ``"shuffled"`` (the default, ``"auto"``) refits the same model to randomly permuted targets;
        ``"init"`` re-initialises the MLP (cheaper, but an untrained small MLP is smoother than a fitted one and
        its bars are stricter); see :func:`symlie.discover`.
    n_null : int, optional
        Number of null models: 5 for polynomials (cheap), 3 for MLPs (each is a training run).
    seed : int, Generator or None, default 0
        Seeds the MLP initialisation and training, the permutations and :func:`symlie.discover`.
    **kwargs
        Passed to :func:`symlie.discover` (``factor``, ``holdout``, ``n_bootstrap``, ...).

    Returns
    -------
    DiscoveryReport
        ``.model`` is the fitted model: a :class:`FittedPolynomial` or a ``torch.nn.Module`` (which predicts the
        standardised targets, see Notes).

    Raises
    ------
    SymlieValueError, ShapeError
        For an unknown ``model`` or ``null``, or inconsistent shapes.

    Notes
    -----
    For the MLP the targets are standardised before training: centred (invariant outputs only) and divided by
    one overall scale; the module predicts the standardised targets. Neither changes any symmetry.

    Examples
    --------
    >>> import numpy as np, symlie as sl
    >>> X = np.random.default_rng(0).normal(size=(200, 3))
    >>> y = (X**2).sum(axis=1) + 0.01 * np.random.default_rng(1).normal(size=200)
    >>> rep = sl.discover_from_data(X, y, sl.gl(3), degree=2)
    >>> rep.dim, bool(rep.principal_cosines(sl.so(3)).min() > 0.999)
    (3, True)
    """
    candidate = _as_algebra(algebra)
    X = as_float_array(X, "X", shape=(None, candidate.n))
    Y = as_float_array(y, "y", ndim=(1, 2))
    Y = Y[:, None] if Y.ndim == 1 else Y
    if len(Y) != len(X):
        raise ShapeError(f"y must have one row per point of X ({len(X)}), got {len(Y)}")
    if model not in _MODELS:
        raise SymlieValueError(f"model must be one of {_MODELS}, got {model!r}")
    n_null = check_positive_int((5 if model == "polynomial" else 3) if n_null is None else n_null, "n_null")
    if not (isinstance(alpha, int | float) and alpha >= 0):
        raise SymlieValueError(f"alpha must be a number >= 0, got {alpha!r}")
    rng = make_rng(seed)
    seeds = rng.integers(2**31, size=n_null + 2)
    shuffles = [rng.permutation(len(X)) for _ in range(n_null)]
    if isinstance(null, str) and null not in ("auto", "shuffled", "init", "none"):
        raise SymlieValueError(f"null must be 'auto', 'shuffled', 'init', 'none', None or a list, got {null!r}")

    if model == "polynomial":
        library = PolynomialLibrary(candidate.n, check_positive_int(degree, "degree"))
        theta = library.evaluate(X)
        fitted: Any = FittedPolynomial(library, _least_squares(theta, Y, float(alpha)))
        if null in ("auto", "shuffled"):
            fits = [FittedPolynomial(library, _least_squares(theta, Y[p], float(alpha))) for p in shuffles]
            null = _Nulls(fits, f"{n_null} degree-{degree} least-squares fits to permuted targets")
        elif null == "init":
            raise SymlieValueError("null='init' re-initialises an MLP; for polynomials use 'shuffled'")
    else:
        invariant = isinstance(output, str) and output == "invariant"
        centre = Y.mean(axis=0) if invariant else np.zeros(Y.shape[1])
        scale = float(np.sqrt(np.mean((Y - centre) ** 2))) or 1.0
        Z = (Y - centre) / scale
        widths = [check_positive_int(h, "hidden") for h in hidden]
        epochs = check_positive_int(epochs, "epochs")

        def train(targets: np.ndarray, s: int) -> Any:
            return _train_mlp(X, targets, widths, epochs, float(lr), batch_size, int(s))

        fitted = train(Z, seeds[0])
        if null in ("auto", "shuffled"):
            nets = [train(Z[p], s) for p, s in zip(shuffles, seeds[2:], strict=True)]
            null = _Nulls(nets, f"{n_null} MLPs {tuple(widths)} trained on permuted targets")
    return discover(fitted, candidate, X, output, null=null, n_null=n_null, seed=int(seeds[1]), **kwargs)
