"""``symlie demo``: a short showcase of exact symmetric models, each with its certificate and time.

Equivariant linear maps between representations (:func:`~symlie.equivariant_space`) for SO(3), O(3), the Lorentz
group, permutation groups and a product group, then symmetric polynomial models (:func:`~symlie.enforce`).

The demo is a list of :class:`Section` s; each computes a list of :class:`Finding` s that are printed as one rich
table. A finding states a known mathematical answer (a dimension, a recognisable basis such as the cross product)
next to the solver's certificate (``residual``) and an independent check (the commutation error
:math:`\\max_g \\|\\rho_{out}(g) W - W \\rho_{in}(g)\\| / \\|\\rho_{out}(g)\\|` for three random group elements).

To add a section, write a function ``(cache) -> list[Finding]`` and append it::

    SECTIONS.append(Section("Discovered symmetries (sl.discover)", "one line on what it shows", my_function))

Examples
--------
>>> results = run_demo(select=["product"], console=False)
>>> [(f.label, f.dim) for f in results[0][1]][:2]
[('V → V', 3), ('V₁⊗V₂ → V₁⊗V₂', 2)]
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._classical import se, so
from ._dictionaries import PolynomialLibrary
from ._enforce import enforce
from ._equivariant import equivariant_space
from ._errors import SymlieValueError
from ._groups import SO, Group, Lorentz, O, Sn, SO13p
from ._invariants import BasisCache
from ._reps import Rep, Scalar, V

__all__ = ["SECTIONS", "Finding", "Section", "run_demo"]


@dataclass(frozen=True)
class Finding:
    """One line of the demo: a space of symmetric maps, what it is, and how well it is certified.

    ``residual`` is the solver's certificate, ``check`` the random-element commutation error and ``match`` the
    distance to the known answer (``inf`` when it differs); ``check`` and ``match`` may be ``None``.
    """

    label: str
    dim: int
    meaning: str
    residual: float
    check: float | None
    seconds: float
    match: float | None = None


@dataclass(frozen=True)
class Section:
    """A titled group of findings; ``compute(cache)`` returns them (``cache`` is a fresh BasisCache per demo)."""

    title: str
    intro: str
    compute: Callable[[BasisCache], list[Finding]]


# ------------------------------------------------------------------------------------------- helpers
def _levi_civita(n: int) -> np.ndarray:
    """The Levi-Civita symbol of R^n as an n-way array."""
    out = np.zeros((n,) * n)
    for perm in itertools.permutations(range(n)):
        inversions = sum(perm[i] > perm[j] for i in range(n) for j in range(i + 1, n))
        out[perm] = (-1.0) ** inversions
    return out


def _span_error(basis: np.ndarray, candidates: Iterable[np.ndarray]) -> float:
    """Distance between span(basis) and the span of the flattened candidates (inf if dimensions differ)."""
    mats = np.stack([np.asarray(c, dtype=float).reshape(-1) for c in candidates], axis=1)
    u, s, _ = np.linalg.svd(mats, full_matrices=False)
    rank = int(np.sum(s > 1e-10 * s[0]))
    if rank != basis.shape[1]:
        return float("inf")
    u = u[:, :rank]
    return float(np.linalg.norm(u - basis @ (basis.T @ u), 2))


def _check(rep_in: Rep, rep_out: Rep, basis: np.ndarray, group: Group, seed: int = 0) -> float:
    """Largest relative commutation error of the basis maps for three random group elements."""
    if basis.shape[1] == 0:
        return 0.0
    mats = basis.T.reshape(basis.shape[1], rep_out.size, rep_in.size)
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(3):
        g = group.sample(rng)
        r_in, r_out = rep_in.rho(g), rep_out.rho(g)
        moved = np.einsum("ab,kbc->kac", r_out, mats) - np.einsum("kab,bc->kac", mats, r_in)
        worst = max(worst, float(np.abs(moved).max() / np.linalg.norm(r_out, 2)))
    return worst


def _solve(
    cache: BasisCache,
    group: Group,
    rep_in: Rep,
    rep_out: Rep,
    label: str,
    what: str,
    *,
    expected: Sequence[np.ndarray] | int,
) -> Finding:
    """Solve one space and compare it with the known answer: a spanning set of tensors, or a dimension."""
    start = time.perf_counter()
    space = equivariant_space(rep_in, rep_out, cache=cache)
    seconds = time.perf_counter() - start
    check = _check(rep_in, rep_out, space.basis, group)
    if isinstance(expected, int):
        match = 0.0 if space.dim == expected else float("inf")
        what = f"{what} (expected {expected})"
    else:
        match = _span_error(space.basis, expected) if expected else (0.0 if space.dim == 0 else float("inf"))
        what = f"{what} (match {match:.0e})" if expected else what
    if not np.isfinite(match):
        what += " [MISMATCH]"
    return Finding(label, space.dim, what, space.residual, check, seconds, match)


def _bell_at_most(n: int, blocks: int) -> int:
    """Set partitions of n labelled indices into at most ``blocks`` blocks (Stirling numbers of the 2nd kind)."""
    stirling = [[0] * (n + 1) for _ in range(n + 1)]
    stirling[0][0] = 1
    for i in range(1, n + 1):
        for k in range(1, i + 1):
            stirling[i][k] = k * stirling[i - 1][k] + stirling[i - 1][k - 1]
    return sum(stirling[n][: blocks + 1])


# ------------------------------------------------------------------------------------------ sections
def _so3(cache: BasisCache) -> list[Finding]:
    G, v = SO(3), V(SO(3))
    eye = np.eye(3)
    identity, swap, trace = (
        np.einsum(f"{a},{b}->ijkl", eye, eye) for a, b in [("ik", "jl"), ("il", "jk"), ("ij", "kl")]
    )
    return [
        _solve(cache, G, v * v, v, "V⊗V → V", "ε_kij: the cross product u×v", expected=[_levi_civita(3)]),
        _solve(cache, G, v * v, v * v, "V⊗V → V⊗V", "identity, swap, trace", expected=[identity, swap, trace]),
        _solve(cache, G, v * v, Scalar, "V⊗V → R", "δ_ij: the dot product", expected=[eye]),
        _solve(cache, O(3), V(O(3)) ** 2, V(O(3)), "O(3): V⊗V → V", "none: u×v is a pseudovector", expected=[]),
        _solve(cache, G, v**4, v**4, "V⊗⁴ → V⊗⁴", "an EMLP anchor (60 s there)", expected=91),
    ]


def _lorentz(cache: BasisCache) -> list[Finding]:
    G, H = Lorentz(), SO13p()
    eta = np.diag([1.0, -1.0, -1.0, -1.0])
    pairings = [np.einsum(f"{a},{b}->ijkl", eta, eta) for a, b in [("ij", "kl"), ("ik", "jl"), ("il", "jk")]]
    return [
        _solve(cache, G, V(G) ** 2, Scalar, "V⊗V → R", "the Minkowski metric η", expected=[eta]),
        _solve(cache, G, V(G) ** 4, Scalar, "V⊗⁴ → R", "the 3 pairings η⊗η", expected=pairings),
        _solve(
            cache,
            H,
            V(H) ** 4,
            Scalar,
            "SO⁺(1,3): V⊗⁴ → R",
            "η⊗η and ε_μνρσ (no parity: ε survives)",
            expected=[*pairings, _levi_civita(4)],
        ),
    ]


def _permutations(cache: BasisCache) -> list[Finding]:
    G, v, S5 = Sn(4), V(Sn(4)), Sn(5)
    return [
        _solve(cache, G, v, v, "V → V", "identity and all-ones J", expected=[np.eye(4), np.ones((4, 4))]),
        _solve(cache, G, v * v, v * v, "V⊗V → V⊗V", "Bell(4) set partitions", expected=_bell_at_most(4, 4)),
        _solve(
            cache,
            S5,
            V(S5) ** 3,
            V(S5) ** 3,
            "S(5): V⊗³ → V⊗³",
            "partitions of 6 indices into <= 5 blocks; EMLP: 279 s",
            expected=_bell_at_most(6, 5),
        ),
    ]


def _product(cache: BasisCache) -> list[Finding]:
    G = SO(3) * Sn(4)
    v, v1, v2 = V(G), V(G, factor=0), V(G, factor=1)
    i3, i4, j4 = np.eye(3), np.eye(4), np.ones((4, 4))

    def blocks(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.zeros((7, 7))
        out[:3, :3], out[3:, 3:] = a, b
        return out

    zero3, zero4 = np.zeros((3, 3)), np.zeros((4, 4))
    return [
        _solve(
            cache,
            G,
            v,
            v,
            "V → V",
            "I₃ ⊕ 0, 0 ⊕ I₄, 0 ⊕ J₄: nothing mixes the factors",
            expected=[blocks(i3, zero4), blocks(zero3, i4), blocks(zero3, j4)],
        ),
        _solve(
            cache,
            G,
            v1 * v2,
            v1 * v2,
            "V₁⊗V₂ → V₁⊗V₂",
            "1 × 2 maps: I₃⊗I₄, I₃⊗J₄",
            expected=[np.einsum("ac,bd->abcd", i3, x) for x in (i4, j4)],
        ),
        _solve(
            cache,
            G,
            v1 * v1,
            v2,
            "V₁⊗V₁ → V₂",
            "(u·v) on every vertex",
            expected=[np.einsum("a,ij->aij", np.ones(4), i3)],
        ),
    ]


Poly = dict[tuple[int, ...], float]  # exponent tuple -> coefficient


def _mul(p: Poly, q: Poly) -> Poly:
    out: Poly = {}
    for a, ca in p.items():
        for b, cb in q.items():
            key = tuple(i + j for i, j in zip(a, b))
            out[key] = out.get(key, 0.0) + ca * cb
    return out


def _coordinates(m: int) -> tuple[list[Poly], Poly]:
    """The coordinate polynomials x_1..x_m and |x|^2."""
    xs = [{tuple(int(i == k) for i in range(m)): 1.0} for k in range(m)]
    r2: Poly = {}
    for x in xs:
        for key, c in _mul(x, x).items():
            r2[key] = r2.get(key, 0.0) + c
    return xs, r2


def _coefficients(library: PolynomialLibrary, model: Sequence[Poly]) -> np.ndarray:
    """Row-major coefficients ``W`` (n_out, L) over ``library`` of a polynomial model given per output."""
    index = {tuple(int(e) for e in row): i for i, row in enumerate(library.exponents)}
    out = np.zeros((len(model), len(library)))
    for k, poly in enumerate(model):
        for key, c in poly.items():
            out[k, index[key]] += c
    return out


def _enforce(
    library: PolynomialLibrary, symmetry: Any, output: str, label: str, what: str, expected: list[list[Poly]]
) -> Finding:
    """Enforce ``symmetry`` on ``library``, compare with known models, check ``F(gx) = g F(x)`` (or ``F(x)``)."""
    start = time.perf_counter()
    sub = enforce(library, symmetry, output=output)
    seconds = time.perf_counter() - start
    match = _span_error(sub.basis, [_coefficients(library, model) for model in expected])
    m = library.n_features
    n_out = m if output == "vector_field" else 1
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, m))
    rotation = SO(m).sample(rng)
    shift = rng.normal(size=m) if symmetry.kind == "affine" else np.zeros(m)
    g_out = rotation if output == "vector_field" else np.eye(1)
    check = 0.0
    for w in sub.basis.T:
        W = w.reshape(n_out, len(library))
        before, after = library.evaluate(X) @ W.T, library.evaluate(X @ rotation.T + shift) @ W.T
        check = max(check, float(np.abs(after - before @ g_out.T).max() / max(1.0, np.abs(before).max())))
    return Finding(label, sub.dim, f"{what} (match {match:.0e})", sub.residual, check, seconds, match)


def _polynomials(cache: BasisCache) -> list[Finding]:
    x2, r2_2 = _coordinates(2)
    x3, r2_3 = _coordinates(3)
    jx = [{key: -c for key, c in x2[1].items()}, x2[0]]  # the rotation generator applied to x: (-y, x)
    lib3, lib4 = PolynomialLibrary(3, 3), PolynomialLibrary(3, 4)
    return [
        _enforce(
            lib4,
            so(3),
            "invariant",
            "so(3) invariants, deg ≤ 4",
            "1, |x|², |x|⁴",
            [[{(0, 0, 0): 1.0}], [r2_3], [_mul(r2_3, r2_3)]],
        ),
        _enforce(lib3, se(3), "invariant", "se(3) invariants, deg ≤ 3", "constants only", [[{(0, 0, 0): 1.0}]]),
        _enforce(
            PolynomialLibrary(2, 3),
            so(2),
            "vector_field",
            "so(2) vector fields on R², deg ≤ 3",
            "x, Jx, |x|²x, |x|²Jx",
            [x2, jx, [_mul(r2_2, c) for c in x2], [_mul(r2_2, c) for c in jx]],
        ),
        _enforce(
            lib3,
            so(3),
            "vector_field",
            "so(3) vector fields on R³, deg ≤ 3",
            "x, |x|²x",
            [x3, [_mul(r2_3, c) for c in x3]],
        ),
    ]


#: The demo, in order. Append a Section to extend it.
SECTIONS: list[Section] = [
    Section("SO(3) and O(3): rotations of R³", "equivariant_basis(V(G)**k, V(G)**l) recovers classical tensors", _so3),
    Section("Lorentz group O(1,3)", "the metric and its tensor powers; discrete parts matter", _lorentz),
    Section("Permutations S(n)", "solved exactly by orbit counting (no floating-point SVD)", _permutations),
    Section("Product group SO(3)×S(4) on R³ ⊕ R⁴", "each factor acts on its own block", _product),
    Section(
        "Symmetric polynomial models (sl.enforce)",
        "F(x) = W θ(x) over all monomials up to a degree; the exact kernel of the Lie derivative",
        _polynomials,
    ),
]


def select_sections(select: Sequence[str] | None, *, name: str = "select") -> list[Section]:
    """Sections whose title contains one of the words in ``select`` (all when ``None``).

    Raises
    ------
    SymlieValueError
        If no title matches; the message names the argument as ``name``.
    """
    if not select:
        return list(SECTIONS)
    chosen = [s for s in SECTIONS if any(w.lower() in s.title.lower() for w in select)]
    if not chosen:
        titles = "; ".join(s.title for s in SECTIONS)
        raise SymlieValueError(f"{name}: no demo section title contains any of {list(select)}; titles: {titles}")
    return chosen


def _table(section: Section, findings: list[Finding]) -> Any:
    from rich.table import Table

    table = Table(title=section.title, caption=section.intro, title_justify="left", caption_justify="left")
    for name, justify in [("space", "left"), ("dim", "right"), ("what it is", "left")]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for name in ("residual", "random g", "time"):
        table.add_column(name, justify="right")
    for f in findings:
        check = "-" if f.check is None else f"{f.check:.0e}"
        table.add_row(f.label, str(f.dim), f.meaning, f"{f.residual:.0e}", check, f"{f.seconds * 1e3:.0f} ms")
    return table


def run_demo(*, select: Sequence[str] | None = None, console: Any = None) -> list[tuple[Section, list[Finding]]]:
    """Compute the demo sections and print them with rich.

    Parameters
    ----------
    select : sequence of str, optional
        Only sections whose title contains one of these words (case-insensitive).
    console : rich.console.Console, False or None
        Where to print; ``None`` makes a new console on stdout, ``False`` prints nothing.

    Returns
    -------
    list of (Section, list of Finding)

    Raises
    ------
    SymlieValueError
        If ``select`` matches no section.
    """
    sections = select_sections(select)
    if console is None:
        from rich.console import Console

        console = Console()
        if not console.is_terminal:  # files and pipes get a readable width, not 80 columns
            console = Console(width=140)
    cache = BasisCache()
    results = []
    for section in sections:
        findings = section.compute(cache)
        results.append((section, findings))
        if console is not False:
            console.print(_table(section, findings))
            console.print()
    if console is not False:
        found = [f for _, fs in results for f in fs]
        residual = max(f.residual for f in found)
        check = max((f.check for f in found if f.check is not None), default=0.0)
        total = sum(f.seconds for f in found)
        console.print(
            f"{len(found)} spaces; worst certificate residual {residual:.0e}, worst random-element check "
            f"{check:.0e}; total solve time {total:.2f} s"
        )
    return results
