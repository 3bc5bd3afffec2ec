"""Benchmark ``symlie bench units``: units covariance, a missing constant (Planck's), pendulum extrapolation.

**Black body** (after Villar, Hogg, Yao, Kevrekidis, Schölkopf 2023). Spectral radiance ``B(lambda, T)`` from
Planck's law with 10% multiplicative noise; training temperatures {300, 1e3, 3e3, 1e4, 3e4} K, test temperatures
{6e3, 2e4, 6e4} K, wavelengths 1e-8..1e-4 m in steps of 0.1 dex, intensities below 1e6 (SI) dropped. Inputs are
``lambda, T`` and the known constants ``c, k``. Metric: RMSE of ``ln B`` on the test temperatures. Models:

* a plain MLP (scikit-learn ``MLPRegressor``, standardised ``ln lambda, ln T`` -> ``ln B``), several seeds;
* the units-covariant model without a new constant: the only one is ``C c k T / lambda^4`` (Rayleigh-Jeans);
* the units-covariant model with the constant found by :func:`symlie.units.find_dimensional_constant`
  (units searched with exponents up to +-2 on kg, m, s, K; value fixed by the median-1 convention), with the
  search's spline regressor and with the same MLP as the baseline;
* for reference, the units-covariant model given Planck's constant itself.

Target: the found constant has the units of action and a value within a factor 2 of Planck's constant, and its
model beats the plain MLP on test RMSE. With ``c`` and ``k`` among the inputs the data determine the constant
only up to powers of ``c`` and ``k`` (``h``, ``h/c``, ``hc/k``, ... give the same model); the search reports
that class and expresses the constant in units of action when the class contains them.

**Pendulum**. Period ``tau = 4 sqrt(l/g) K(sin^2(theta0/2))`` with inputs ``l, m, g, theta0``, trained on
``l`` in [0.5, 2] m, ``g`` in [9.7, 9.9] m/s^2, ``m`` in [0.5, 2] kg; tested on rescaled ``l, g, m`` far outside
(same amplitudes). Units-covariant models (a 1-nearest-neighbour base, exact at the training amplitudes, and a
spline base) against a plain MLP on the log inputs. Target: the covariant model with the exact base has relative
error below 1e-10 everywhere.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

SUMMARY = "units covariance: black-body missing constant (Planck's h) and pendulum extrapolation"

H, C, K_B = 6.62607015e-34, 299792458.0, 1.380649e-23
TRAIN_T = (300.0, 1e3, 3e3, 1e4, 3e4)
TEST_T = (6e3, 2e4, 6e4)
MIN_INTENSITY = 1e6
NOISE = 0.1
UNITS = {"lambda": "m", "T": "K", "c": "m/s", "k": "J/K"}
TARGET_UNITS = "W/m^3"  # spectral radiance per steradian: W sr^-1 m^-2 m^-1 (sr is dimensionless)
PENDULUM_UNITS = {"l": "m", "m": "kg", "g": "m/s^2", "theta0": "radian"}
#: (name, l, m, g) of the pendulum test sets.
PENDULUM_TESTS = (
    ("train range", None, None, None),
    ("l = 50 m", 50.0, 1.0, 9.81),
    ("Moon (g = 1.62)", 1.0, 1.0, 1.62),
    ("Jupiter (g = 24.79), m = 1000", 1.0, 1000.0, 24.79),
    ("l = 1e3 m, Mars (g = 3.71), m = 1e-3", 1e3, 1e-3, 3.71),
)


def planck(lam: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Planck's law ``B = 2 h c^2 / lambda^5 / (exp(h c / (lambda k T)) - 1)`` in W sr^-1 m^-3."""
    with np.errstate(over="ignore"):
        return 2 * H * C**2 / lam**5 / np.expm1(H * C / (lam * K_B * T))


def blackbody_data(temperatures: tuple[float, ...], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``(lambda, T, c, k)`` and noisy radiance, intensities below 1e6 dropped."""
    lam = 10.0 ** np.linspace(-8, -4, 41)
    L, T = (a.ravel() for a in np.meshgrid(lam, np.asarray(temperatures)))
    B = planck(L, T) * (1 + NOISE * rng.normal(size=L.size))
    keep = B > MIN_INTENSITY
    X = np.column_stack([L, T, np.full(L.size, C), np.full(L.size, K_B)])
    return X[keep], B[keep]


def _mlp(seed: int) -> Any:
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    net = MLPRegressor(hidden_layer_sizes=(20, 20, 20), max_iter=5000, tol=1e-6, n_iter_no_change=50, random_state=seed)
    return make_pipeline(StandardScaler(), net)


def _rmse_log(y: np.ndarray, prediction: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.log(y) - np.log(prediction)) ** 2)))


def run_blackbody(*, seed: int = 0, mlp_seeds: int = 3, max_exponent: int = 2) -> dict[str, Any]:
    """The black-body experiment; returns its JSON section (see the module docstring)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from symlie.units import UnitsCovariantRegressor, find_dimensional_constant
    from symlie.units._constants import default_search_estimator

    rng = np.random.default_rng(seed)
    X, y = blackbody_data(TRAIN_T, rng)
    Xt, yt = blackbody_data(TEST_T, rng)
    out: dict[str, Any] = {"n_train": len(X), "n_test": len(Xt), "seed": seed}
    predictions: dict[str, np.ndarray] = {}

    t0 = time.perf_counter()
    mlp_scores = []
    for s in range(mlp_seeds):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = _mlp(s).fit(np.log(X[:, :2]), np.log(y))
        prediction = np.exp(model.predict(np.log(Xt[:, :2])))
        mlp_scores.append(_rmse_log(yt, prediction))
        if s == 0:
            predictions["plain MLP"] = prediction
    out["plain_mlp"] = {"test_rmse_lnB": float(np.mean(mlp_scores)), "per_seed": mlp_scores, "seconds": 0.0}
    out["plain_mlp"]["seconds"] = time.perf_counter() - t0

    rj = UnitsCovariantRegressor(units=UNITS, target_units=TARGET_UNITS).fit(X, y)
    predictions["covariant, no constant"] = rj.predict(Xt)
    out["covariant_no_constant"] = {
        "model": f"exp({rj.constant_:.3f}) {rj.prefactor_.name}",
        "n_pi_groups": rj.pi_groups_.n_groups,
        "test_rmse_lnB": _rmse_log(yt, predictions["covariant, no constant"]),
    }

    t0 = time.perf_counter()
    found = find_dimensional_constant(
        X, y, units=UNITS, target_units=TARGET_UNITS, max_exponent=max_exponent, prefer="J s", seed=seed
    )
    search_seconds = time.perf_counter() - t0
    action = "kg m^2 s^-1"
    record: dict[str, Any] = {
        "units": found.units_name,
        "value": found.value,
        "pi_group": found.group,
        "ratio_to_planck": found.value / H if found.units_name == action else None,
        "cv_rmse_with_constant": found.score,
        "cv_rmse_plain": found.plain_score,
        "validation_gain": found.gain,
        "n_candidates": found.n_candidates,
        "n_classes": found.n_classes,
        "class_contains_action": action in found.equivalent,
        "equivalent_units_in_class": len(found.equivalent),
        "simplest_equivalent": found.ranking[0]["units"],
        "hc_over_k_estimate": found.equivalent.get("m K"),
        "ranking": found.ranking,
        "search_seconds": search_seconds,
    }
    augmented = {"spline": default_search_estimator(), "MLP": _mlp(0)}
    for label, base in augmented.items():
        model = UnitsCovariantRegressor(
            base, units=found.units_mapping(), target_units=TARGET_UNITS, prefactor_using=list(UNITS)
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(found.augment(X), y)
        predictions[f"covariant + found constant ({label})"] = model.predict(found.augment(Xt))
        record[f"test_rmse_lnB_{label.lower()}"] = _rmse_log(yt, predictions[f"covariant + found constant ({label})"])
    out["covariant_found_constant"] = record

    with_h = UnitsCovariantRegressor(default_search_estimator(), units={**UNITS, "h": "J s"}, target_units=TARGET_UNITS)
    with_h.fit(np.column_stack([X, np.full(len(X), H)]), y)
    out["covariant_with_planck_h"] = {
        "test_rmse_lnB": _rmse_log(yt, with_h.predict(np.column_stack([Xt, np.full(len(Xt), H)]))),
        "pi_groups": list(with_h.pi_groups_.names),
    }
    best = min(record["test_rmse_lnB_spline"], record["test_rmse_lnB_mlp"])
    out["targets"] = {
        "units_of_action": record["class_contains_action"] and found.units_name == action,
        "value_within_factor_2": record["ratio_to_planck"] is not None and 0.5 <= record["ratio_to_planck"] <= 2.0,
        "beats_plain_mlp": best < out["plain_mlp"]["test_rmse_lnB"],
    }
    out["passed"] = all(out["targets"].values())
    out["_plot"] = {"X": Xt, "y": yt, "predictions": predictions}
    return out


def run_pendulum(*, seed: int = 0, n_train: int = 200) -> dict[str, Any]:
    """The pendulum extrapolation table; returns its JSON section."""
    import warnings

    from scipy.special import ellipk
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neighbors import KNeighborsRegressor

    from symlie.units import UnitsCovariantRegressor
    from symlie.units._constants import default_search_estimator

    def law(X: np.ndarray) -> np.ndarray:
        return 4 * np.sqrt(X[:, 0] / X[:, 2]) * ellipk(np.sin(X[:, 3] / 2) ** 2)

    rng = np.random.default_rng(seed)
    theta = rng.uniform(0.1, 2.8, n_train)
    X = np.column_stack(
        [rng.uniform(0.5, 2, n_train), rng.uniform(0.5, 2, n_train), rng.uniform(9.7, 9.9, n_train), theta]
    )
    y = law(X)
    models = {
        "covariant (1-NN in theta0)": UnitsCovariantRegressor(
            KNeighborsRegressor(n_neighbors=1), units=PENDULUM_UNITS, target_units="s"
        ),
        "covariant (splines in theta0)": UnitsCovariantRegressor(
            default_search_estimator(), units=PENDULUM_UNITS, target_units="s"
        ),
    }
    for model in models.values():
        model.fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = _mlp(seed).fit(np.column_stack([np.log(X[:, :3]), X[:, 3]]), np.log(y))
    rows = []
    for name, l, m, g in PENDULUM_TESTS:
        Xt = X.copy()
        if l is not None:
            Xt[:, 0], Xt[:, 1], Xt[:, 2] = l, m, g
        truth = law(Xt)
        row: dict[str, Any] = {"test": name}
        for label, model in models.items():
            row[label] = float(np.max(np.abs(model.predict(Xt) / truth - 1)))
        mlp_prediction = np.exp(plain.predict(np.column_stack([np.log(Xt[:, :3]), Xt[:, 3]])))
        row["plain MLP (log inputs)"] = float(np.max(np.abs(mlp_prediction / truth - 1)))
        rows.append(row)
    exact = max(r["covariant (1-NN in theta0)"] for r in rows)
    reference = models["covariant (1-NN in theta0)"]
    return {
        "pi_groups": list(reference.pi_groups_.names),
        "prefactor": reference.prefactor_.name,
        "metric": "largest relative error of tau over the test set (amplitudes = training amplitudes)",
        "table": rows,
        "target": "covariant (1-NN) error < 1e-10 on every test set",
        "max_error_exact_base": exact,
        "passed": exact < 1e-10,
    }


def plot(blackbody: dict[str, Any], path: Path) -> None:
    """Test predictions of the black-body models against the data (log-log), one panel per test temperature."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = blackbody["_plot"]
    X, y = data["X"], data["y"]
    fig, axes = plt.subplots(1, len(TEST_T), figsize=(4.2 * len(TEST_T), 3.8), sharey=True)
    styles = {"plain MLP": "x", "covariant, no constant": "--", "covariant + found constant (spline)": "-"}
    for ax, temperature in zip(axes, TEST_T):
        sel = X[:, 1] == temperature
        order = np.argsort(X[sel, 0])
        ax.loglog(X[sel, 0], y[sel], "k.", label="test data (10% noise)")
        for label, style in styles.items():
            prediction = data["predictions"][label][sel][order]
            ax.loglog(X[sel, 0][order], prediction, style, label=label, markersize=4)
        ax.set_title(f"T = {temperature:g} K")
        ax.set_xlabel("wavelength (m)")
    axes[0].set_ylabel("B (W sr$^{-1}$ m$^{-3}$)")
    axes[0].set_ylim(1e5, None)
    axes[-1].legend(fontsize=7)
    found = blackbody["covariant_found_constant"]
    fig.suptitle(f"symlie bench units: found constant {found['value']:.3g} {found['units']} (h = {H:.4g})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(
    *, seed: int = 0, mlp_seeds: int = 3, max_exponent: int = 2, out: Path | None = None, plot_path: Path | None = None
) -> dict[str, Any]:
    """Run both experiments and return the JSON document (written to ``out`` and plotted when given).

    Parameters
    ----------
    seed : int, default 0
        Seeds the data noise, the search's cross-validation and the pendulum sample.
    mlp_seeds : int, default 3
        Initialisations of the plain MLP (its test RMSE is their mean).
    max_exponent : int, default 2
        Bound on the candidate constant's unit exponents.
    out, plot_path : Path, optional
        Where to write the JSON and the PNG.

    Returns
    -------
    dict
        ``{"benchmark", "date", "machine", "versions", "blackbody", "pendulum", "seconds", "passed"}``.
    """
    from ._enforce import machine_info, versions

    start = time.perf_counter()
    blackbody = run_blackbody(seed=seed, mlp_seeds=mlp_seeds, max_exponent=max_exponent)
    pendulum = run_pendulum(seed=seed)
    if plot_path is not None:
        plot(blackbody, plot_path)
    blackbody.pop("_plot")
    extra = {}
    try:
        import sklearn

        extra["scikit-learn"] = sklearn.__version__
    except ImportError:  # pragma: no cover
        pass
    document = {
        "benchmark": "units",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "versions": {**versions(), **extra},
        "blackbody": blackbody,
        "pendulum": pendulum,
        "seconds": time.perf_counter() - start,
        "passed": blackbody["passed"] and pendulum["passed"],
    }
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(document, indent=2) + "\n")
    return document


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``symlie bench units``."""
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise, the CV folds and the pendulum data")
    parser.add_argument("--mlp-seeds", type=int, default=3, help="initialisations of the plain MLP baseline")
    parser.add_argument("--max-exponent", type=int, default=2, help="bound on the candidate constant's exponents")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/units.json"), help="JSON file to write")
    parser.add_argument("--plot", type=Path, default=Path("benchmarks/units.png"), help="PNG file to write")


def table(document: dict[str, Any]) -> tuple[Any, Any]:
    """Two rich tables: the black-body models and the pendulum extrapolation."""
    from rich.table import Table

    bb = document["blackbody"]
    found = bb["covariant_found_constant"]
    first = Table(title="black body: test RMSE of ln B (T = 6e3, 2e4, 6e4 K)", title_justify="left")
    first.add_column("model")
    first.add_column("RMSE", justify="right")
    first.add_row("plain MLP (mean of seeds)", f"{bb['plain_mlp']['test_rmse_lnB']:.3f}")
    rj = bb["covariant_no_constant"]
    first.add_row(f"covariant, no constant: {rj['model']}", f"{rj['test_rmse_lnB']:.3f}")
    label = f"covariant + C = {found['value']:.3g} {found['units']} (spline)"
    first.add_row(label, f"{found['test_rmse_lnB_spline']:.3f}")
    first.add_row("covariant + found constant (MLP)", f"{found['test_rmse_lnB_mlp']:.3f}")
    first.add_row("covariant + Planck's h (spline)", f"{bb['covariant_with_planck_h']['test_rmse_lnB']:.3f}")
    second = Table(title="pendulum: largest relative error of tau", title_justify="left")
    columns = [c for c in document["pendulum"]["table"][0] if c != "test"]
    second.add_column("test set")
    for c in columns:
        second.add_column(c, justify="right")
    for row in document["pendulum"]["table"]:
        second.add_row(row["test"], *[f"{row[c]:.1e}" for c in columns])
    return first, second


def main(args: argparse.Namespace) -> int:
    """Run with parsed options, print the tables, write the JSON and the plot; exit code 1 on a missed target."""
    from rich.console import Console

    console = Console()
    with console.status("black body and pendulum experiments"):
        document = run(
            seed=args.seed, mlp_seeds=args.mlp_seeds, max_exponent=args.max_exponent, out=args.out, plot_path=args.plot
        )
    for t in table(document):
        console.print(t)
    targets = document["blackbody"]["targets"]
    console.print(f"black-body targets: {targets}; pendulum exact: {document['pendulum']['passed']}")
    console.print(f"wrote {args.out} and {args.plot}")
    return 0 if document["passed"] else 1
