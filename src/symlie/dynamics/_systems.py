r"""Reference polynomial ODEs with known symmetries, and their simulation with :func:`scipy.integrate.solve_ivp`.

Each :class:`System` is an exact polynomial vector field :math:`\dot x = f(x) = W \theta(x)` over a
:class:`~symlie.PolynomialLibrary` (PySINDy's monomial order), with the symmetry it is known to have:

========================  ==============================================================  ==========================
system                    equations                                                       known symmetry
========================  ==============================================================  ==========================
``lorenz``                :math:`\dot x = \sigma(y - x),\ \dot y = x(\rho - z) - y,\     Z2: (x, y, z) -> (-x, -y, z)
                          \dot z = xy - \beta z`
``hopf``                  :math:`\dot u = \mu u + \omega J u - |u|^2 u`                   so(2) = span{J}
``oscillator``            :math:`\dot u = \omega J u`                                     span{I, J}; conserves |u|^2
``rotating``              :math:`\dot x = -y + x(1 - r^2),\ \dot y = x + y(1 - r^2),\     rotation about z
                          \dot z = -z`
``lotka_volterra``        :math:`\dot x = a x - b x y,\ \dot y = -c y + d x y`            none polynomial
========================  ==============================================================  ==========================

with :math:`J = \begin{pmatrix} 0 & -1 \\ 1 & 0 \end{pmatrix}` and :math:`r^2 = x^2 + y^2`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._algebra import LieAlgebra
from .._dictionaries import PolynomialLibrary
from .._errors import ShapeError, SymlieValueError
from .._groups import Group
from .._validation import as_float_array, check_positive_int

__all__ = [
    "System",
    "hopf",
    "lorenz",
    "lotka_volterra",
    "oscillator",
    "rotating",
    "simulate",
]


@dataclass(frozen=True, eq=False)
class System:
    r"""A polynomial ODE :math:`\dot x = W \theta(x)` with its known symmetry.

    Attributes
    ----------
    name : str
    coef : ndarray of shape (n, len(library))
        The exact coefficient matrix ``W`` (``Xi^T`` in PySINDy's notation). Read-only.
    library : PolynomialLibrary
        The monomials :math:`\theta`.
    symmetry : Group or LieAlgebra or None
        The known symmetry (``None`` when the system has none worth enforcing).
    x0 : ndarray of shape (n,)
        A default initial condition on the attractor or limit cycle of interest.
    dt : float
        A sampling step that resolves the dynamics.
    notes : str
        What the symmetry means.
    """

    name: str
    coef: np.ndarray
    library: PolynomialLibrary
    symmetry: Any
    x0: np.ndarray
    dt: float
    notes: str = field(default="")

    @property
    def n(self) -> int:
        """State dimension."""
        return int(self.coef.shape[0])

    def __call__(self, X: Any) -> np.ndarray:
        r"""The right-hand side :math:`f(X) = \Theta(X) W^\top`.

        Parameters
        ----------
        X : array_like of shape (n_samples, n) or (n,)

        Returns
        -------
        ndarray of the same shape
        """
        X = as_float_array(X, "X", ndim=(1, 2))
        single = X.ndim == 1
        out = self.library.evaluate(np.atleast_2d(X)) @ self.coef.T
        return out[0] if single else out

    def equations(self, *, precision: int = 4) -> list[str]:
        """Readable right-hand sides, e.g. ``['-10 x0 + 10 x1', ...]``."""
        names = self.library.feature_names()
        rows = []
        for row in self.coef:
            terms = [f"{c:.{precision}g} {t}" if t != "1" else f"{c:.{precision}g}" for c, t in zip(row, names) if c]
            rows.append(" + ".join(terms).replace("+ -", "- ") or "0")
        return rows

    def __repr__(self) -> str:
        return f"System({self.name!r}, n={self.n}, library={self.library!r})"


def _build(
    n: int, degree: int, terms: dict[tuple[int, tuple[int, ...]], float]
) -> tuple[np.ndarray, PolynomialLibrary]:
    library = PolynomialLibrary(n, degree)
    coef = np.zeros((n, len(library)))
    for (row, exponent), value in terms.items():
        coef[row, int(library.index([exponent])[0])] = value
    coef.setflags(write=False)
    return coef, library


def _x0(values: list[float]) -> np.ndarray:
    x0 = np.array(values, dtype=np.float64)
    x0.setflags(write=False)
    return x0


def lorenz(sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0) -> System:
    r"""The Lorenz system; quadratic, with the Z2 symmetry :math:`(x, y, z) \mapsto (-x, -y, z)`.

    Examples
    --------
    >>> lorenz().equations()
    ['-10 x0 + 10 x1', '28 x0 - 1 x1 - 1 x0 x2', '-2.667 x2 + 1 x0 x1']
    """
    coef, library = _build(
        3,
        2,
        {
            (0, (1, 0, 0)): -sigma,
            (0, (0, 1, 0)): sigma,
            (1, (1, 0, 0)): rho,
            (1, (0, 1, 0)): -1.0,
            (1, (1, 0, 1)): -1.0,
            (2, (0, 0, 1)): -beta,
            (2, (1, 1, 0)): 1.0,
        },
    )
    group = Group(None, [np.diag([-1.0, -1.0, 1.0])], name="Z2(x,y)")
    return System("lorenz", coef, library, group, _x0([-8.0, 8.0, 27.0]), 0.002, "(x, y, z) -> (-x, -y, z)")


def _rotation_z(n: int) -> LieAlgebra:
    J = np.zeros((1, n, n))
    J[0, 0, 1], J[0, 1, 0] = -1.0, 1.0
    return LieAlgebra(J, name="so(2)" if n == 2 else "so(2)_z")


def hopf(mu: float = 1.0, omega: float = 1.0) -> System:
    r"""Hopf normal form :math:`\dot u = \mu u + \omega J u - |u|^2 u` on :math:`\mathbb{R}^2`; symmetry span{J}."""
    terms: dict[tuple[int, tuple[int, ...]], float] = {
        (0, (1, 0)): mu,
        (0, (0, 1)): -omega,
        (1, (1, 0)): omega,
        (1, (0, 1)): mu,
        (0, (3, 0)): -1.0,
        (0, (1, 2)): -1.0,
        (1, (2, 1)): -1.0,
        (1, (0, 3)): -1.0,
    }
    coef, library = _build(2, 3, terms)
    return System("hopf", coef, library, _rotation_z(2), _x0([0.1, 0.0]), 0.01, "rotations of the plane")


def oscillator(omega: float = 1.0) -> System:
    r"""Harmonic oscillator :math:`\dot u = \omega J u`; symmetry span{I, J}, conserved :math:`|u|^2`."""
    coef, library = _build(2, 1, {(0, (0, 1)): -omega, (1, (1, 0)): omega})
    return System("oscillator", coef, library, _rotation_z(2), _x0([1.0, 0.0]), 0.01, "rotations and scalings")


def rotating(omega: float = 1.0, lam: float = 1.0) -> System:
    r"""A limit cycle in :math:`\mathbb{R}^3` rotating about the z axis.

    .. math:: \dot x = -\omega y + x(1 - r^2),\quad \dot y = \omega x + y(1 - r^2),\quad \dot z = -\lambda z

    Its linear symmetries are the rotation about z and the scaling of z (gl(3) holds both: dimension 2).
    """
    terms: dict[tuple[int, tuple[int, ...]], float] = {
        (0, (1, 0, 0)): 1.0,
        (0, (0, 1, 0)): -omega,
        (0, (3, 0, 0)): -1.0,
        (0, (1, 2, 0)): -1.0,
        (1, (1, 0, 0)): omega,
        (1, (0, 1, 0)): 1.0,
        (1, (2, 1, 0)): -1.0,
        (1, (0, 3, 0)): -1.0,
        (2, (0, 0, 1)): -lam,
    }
    coef, library = _build(3, 3, terms)
    return System("rotating", coef, library, _rotation_z(3), _x0([0.1, 0.0, 1.0]), 0.01, "rotation about z")


def lotka_volterra(a: float = 1.0, b: float = 1.0, c: float = 1.0, d: float = 1.0) -> System:
    r"""Lotka-Volterra :math:`\dot x = a x - b x y,\ \dot y = -c y + d x y`.

    It conserves :math:`H = d x - c \log x + b y - a \log y`, which is not a polynomial: no polynomial conserved
    quantity exists (see :func:`symlie.dynamics.conserved_quantities`).
    """
    coef, library = _build(2, 2, {(0, (1, 0)): a, (0, (1, 1)): -b, (1, (0, 1)): -c, (1, (1, 1)): d})
    return System("lotka_volterra", coef, library, None, _x0([2.0, 1.0]), 0.01, "no polynomial symmetry")


def simulate(
    system: Any,
    n_steps: int,
    *,
    dt: float | None = None,
    x0: Any = None,
    rtol: float = 1e-10,
    atol: float = 1e-10,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Integrate :math:`\dot x = f(x)` with ``solve_ivp`` (DOP853) and sample it every ``dt``.

    Parameters
    ----------
    system : System or callable
        A :class:`System`, or a function ``f(X)`` of arrays (n_samples, n) -> (n_samples, n) (then ``x0`` and
        ``dt`` are required).
    n_steps : int
        Number of samples (``t = 0, dt, ..., (n_steps - 1) dt``).
    dt : float, optional
        Sampling step (default ``system.dt``).
    x0 : array_like of shape (n,), optional
        Initial condition (default ``system.x0``).
    rtol, atol : float
        Integrator tolerances.

    Returns
    -------
    (t, X) : ndarray of shape (n_steps,), ndarray of shape (n_steps, n)

    Raises
    ------
    SymlieValueError
        If ``dt`` is not positive or the integration fails (e.g. blows up).

    Examples
    --------
    >>> t, X = simulate(oscillator(), 4, dt=np.pi / 2)
    >>> (np.round(X, 6) + 0.0).tolist()
    [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]
    """
    from scipy.integrate import solve_ivp

    n_steps = check_positive_int(n_steps, "n_steps")
    f = system
    if dt is None:
        if not isinstance(system, System):
            raise SymlieValueError("dt is required when system is a plain function")
        dt = system.dt
    if x0 is None:
        if not isinstance(system, System):
            raise SymlieValueError("x0 is required when system is a plain function")
        x0 = system.x0
    if not (isinstance(dt, int | float) and dt > 0):
        raise SymlieValueError(f"dt must be a positive number, got {dt!r}")
    x0 = as_float_array(x0, "x0", ndim=1)
    if isinstance(system, System) and x0.shape != (system.n,):
        raise ShapeError(f"x0 must have shape ({system.n},), got {x0.shape}")
    t = dt * np.arange(n_steps)

    def rhs(_: float, x: np.ndarray) -> np.ndarray:
        return np.asarray(f(x[None, :]), dtype=np.float64).reshape(-1)

    solution = solve_ivp(rhs, (0.0, float(t[-1])), x0, method="DOP853", t_eval=t, rtol=rtol, atol=atol)
    if not solution.success or solution.y.shape[1] != n_steps:
        raise SymlieValueError(f"integration failed: {solution.message}")
    return t, solution.y.T.copy()
