r"""The EMLP benchmark datasets, generated from their definitions (Finzi, Welling, Wilson, ICML 2021).

Each dataset holds NumPy arrays ``X`` (N, rep_in.size) and ``Y`` (N, rep_out.size), the symmetry ``group``, the
representations, and ``stats``: equivariance-preserving standardisation constants (an input scale that is constant
on each copy of a vector, an output mean only on invariant outputs) that a model may use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._errors import SymlieValueError
from .._groups import Group, Lorentz, O
from .._reps import Rep, Scalar, V
from .._validation import check_positive_int, make_rng

__all__ = ["Dataset", "Inertia", "O5Synthetic", "ParticleInteraction"]

#: Minkowski metric of signature (+, -, -, -).
ETA = np.diag([1.0, -1.0, -1.0, -1.0])


@dataclass(frozen=True)
class Stats:
    """Standardisation constants that commute with the group action.

    Attributes
    ----------
    x_scale : ndarray of shape (rep_in.size,)
        Inputs are divided by it (constant on each copy of a non-trivial representation).
    y_mean, y_scale : ndarray of shape (rep_out.size,)
        A model predicts ``y_mean + y_scale * out``; ``y_mean`` is zero on non-invariant outputs.
    """

    x_scale: np.ndarray
    y_mean: np.ndarray
    y_scale: np.ndarray


@dataclass(frozen=True)
class Dataset:
    """Samples of an equivariant target with its symmetry.

    Attributes
    ----------
    X : ndarray of shape (N, rep_in.size)
    Y : ndarray of shape (N, rep_out.size)
    group : Group
    rep_in, rep_out : Rep
    stats : Stats
    name : str
    """

    X: np.ndarray
    Y: np.ndarray
    group: Group
    rep_in: Rep
    rep_out: Rep
    stats: Stats = field(repr=False)
    name: str = ""

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def split(self, n_train: int) -> tuple[Dataset, Dataset]:
        """The first ``n_train`` samples and the rest, with the same ``stats``."""
        n_train = check_positive_int(n_train, "n_train")
        if n_train >= len(self):
            raise SymlieValueError(f"n_train must be smaller than the dataset size {len(self)}, got {n_train}")
        common = (self.group, self.rep_in, self.rep_out, self.stats, self.name)
        return Dataset(self.X[:n_train], self.Y[:n_train], *common), Dataset(
            self.X[n_train:], self.Y[n_train:], *common
        )


def O5Synthetic(n: int = 1024, *, rng: int | np.random.Generator | None = 0) -> Dataset:
    r"""Invariant regression under O(5): :math:`x_1, x_2 \sim N(0, I_5)`, rep ``2V -> Scalar``.

    .. math:: f(x_1, x_2) = \sin \lVert x_1 \rVert - \tfrac12 \lVert x_2 \rVert^3
              + \frac{x_1 \cdot x_2}{\lVert x_1 \rVert \lVert x_2 \rVert}

    Parameters
    ----------
    n : int, default 1024
    rng : int, numpy.random.Generator or None, default 0

    Returns
    -------
    Dataset

    Examples
    --------
    >>> data = O5Synthetic(8)
    >>> data.X.shape, data.Y.shape, data.group.name
    ((8, 10), (8, 1), 'O(5)')
    """
    n = check_positive_int(n, "n")
    generator = make_rng(rng)
    X = generator.normal(size=(n, 10))
    Y = o5_target(X)
    G = O(5)
    x_scale = np.repeat(np.sqrt(np.mean(X.reshape(n, 2, 5) ** 2, axis=(0, 2))), 5)
    stats = Stats(x_scale, Y.mean(axis=0), Y.std(axis=0))
    return Dataset(X, Y, G, 2 * V(G), Scalar, stats, "O5Synthetic")


def Inertia(n: int = 1024, *, k: int = 5, rng: int | np.random.Generator | None = 0) -> Dataset:
    r"""The inertia tensor of ``k`` point masses under O(3): rep ``k Scalar + k V -> V (x) V``.

    Masses :math:`m_i = \mathrm{softplus}(z_i)`, :math:`z_i \sim N(0, 1)`; positions :math:`r_i \sim N(0, I_3)`;

    .. math:: I = \sum_i m_i \left(\lVert r_i \rVert^2 I_3 - r_i r_i^T\right)

    flattened row-major to 9 numbers. Inputs are ``(m_1..m_k, r_1..r_k)``.

    Parameters
    ----------
    n : int, default 1024
    k : int, default 5
    rng : int, numpy.random.Generator or None, default 0

    Returns
    -------
    Dataset
    """
    n = check_positive_int(n, "n")
    k = check_positive_int(k, "k")
    generator = make_rng(rng)
    X = generator.normal(size=(n, 4 * k))
    X[:, :k] = np.logaddexp(0.0, X[:, :k])
    masses, positions = X[:, :k], X[:, k:].reshape(n, k, 3)
    Y = inertia_target(X, k)
    G = O(3)
    x_scale = np.concatenate([np.abs(masses).mean(axis=0), np.repeat(np.abs(positions).mean(axis=(0, 2)), 3)])
    y_scale = np.full(9, np.abs(Y).mean())
    stats = Stats(x_scale, np.zeros(9), y_scale)
    return Dataset(X, Y, G, k * Scalar + k * V(G), V(G) ** 2, stats, "Inertia")


def ParticleInteraction(n: int = 1024, *, rng: int | np.random.Generator | None = 0) -> Dataset:
    r"""An electron-muon scattering amplitude, invariant under the Lorentz group O(1,3): rep ``4V -> Scalar``.

    Four momenta :math:`p_1..p_4 \sim N(0, I_4/16)`, metric :math:`\eta = \mathrm{diag}(1,-1,-1,-1)`,
    :math:`a \cdot b = a^T \eta b`. With the lepton tensors

    .. math:: L_e^{\mu\nu} = p_1^\mu p_3^\nu - (p_1 \cdot p_3 - p_1 \cdot p_1)\, \eta^{\mu\nu}, \qquad
              L^{\mu}_{\ \mu\nu} = (\eta p_2)_\mu (\eta p_4)_\nu - (p_2 \cdot p_4 - p_2 \cdot p_2)\, \eta_{\mu\nu},

    the target is the full contraction :math:`y = 4 \sum_{\mu\nu} L_e^{\mu\nu} L^{\mu}_{\ \mu\nu}`, a degree-4
    invariant polynomial (as in EMLP's ``ParticleInteraction``).

    Parameters
    ----------
    n : int, default 1024
    rng : int, numpy.random.Generator or None, default 0

    Returns
    -------
    Dataset
    """
    n = check_positive_int(n, "n")
    generator = make_rng(rng)
    X = generator.normal(size=(n, 16)) / 4
    Y = particle_target(X)
    G = Lorentz()
    per_vector = np.sqrt(np.mean(X.reshape(n, 4, 4) ** 2, axis=(0, 2)))
    stats = Stats(np.repeat(per_vector, 4), Y.mean(axis=0), Y.std(axis=0))
    return Dataset(X, Y, G, 4 * V(G), Scalar, stats, "ParticleInteraction")


def o5_target(X: np.ndarray) -> np.ndarray:
    """The O5Synthetic target of inputs ``X`` (N, 10); returns (N, 1)."""
    x1, x2 = X[:, :5], X[:, 5:]
    r1, r2 = np.linalg.norm(x1, axis=1), np.linalg.norm(x2, axis=1)
    return (np.sin(r1) - 0.5 * r2**3 + np.sum(x1 * x2, axis=1) / (r1 * r2))[:, None]


def inertia_target(X: np.ndarray, k: int) -> np.ndarray:
    """The inertia tensor of inputs ``X`` (N, 4k) = (masses, positions), flattened row-major to (N, 9)."""
    masses, positions = X[:, :k], X[:, k:].reshape(len(X), k, 3)
    squared = np.sum(positions**2, axis=2)
    tensor = np.einsum("ni,ni,ab->nab", masses, squared, np.eye(3)) - np.einsum(
        "ni,nia,nib->nab", masses, positions, positions
    )
    return tensor.reshape(len(X), 9)


def particle_target(X: np.ndarray) -> np.ndarray:
    """The ParticleInteraction amplitude of four 4-momenta ``X`` (N, 16); returns (N, 1)."""
    n = len(X)
    p1, p2, p3, p4 = X.reshape(n, 4, 4).transpose(1, 0, 2)

    def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.einsum("ni,ij,nj->n", a, ETA, b)

    electron = np.einsum("ni,nj->nij", p1, p3) - (dot(p1, p3) - dot(p1, p1))[:, None, None] * ETA
    muon = np.einsum("ni,nj->nij", p2 @ ETA, p4 @ ETA) - (dot(p2, p4) - dot(p2, p2))[:, None, None] * ETA
    return 4 * np.einsum("nij,nij->n", electron, muon)[:, None]
