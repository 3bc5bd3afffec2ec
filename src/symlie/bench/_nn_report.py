"""Reporting for ``symlie bench nn``: targets, merging partial reruns into the JSON, the table and the plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ._nn import MAX_EQUIVARIANCE, MAX_STEP_RATIO, MODELS, PUBLISHED

__all__ = ["merge", "plot", "summary", "table", "targets"]


def targets(entry: dict[str, Any]) -> dict[str, bool]:
    """The targets of one dataset entry (those that its runs and timings allow to judge)."""
    name = {"O5Synthetic": "o5", "Inertia": "inertia", "ParticleInteraction": "lorentz"}.get(entry["dataset"])
    out: dict[str, bool] = {}
    emlp_1000 = [r for r in entry["runs"] if r["model"] == "emlp" and r["n_train"] == 1000]
    if emlp_1000 and name is not None:
        r = emlp_1000[0]
        out["test_mse"] = r["test_mse"] <= PUBLISHED[name]["emlp"]
    if "step_time" in entry:
        out["step_ratio"] = entry["step_time"]["ratio"] <= MAX_STEP_RATIO
    if emlp_1000:
        out["equivariance_float32"] = r["equivariance_error"] <= MAX_EQUIVARIANCE["float32"]
        out["equivariance_float64"] = r["equivariance_error_float64"] <= MAX_EQUIVARIANCE["float64"]
    return out


def merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``old`` updated with ``new``: its runs (by dataset, model and n_train), timings and promote result.

    The settings, machine and versions of each merged run are kept in ``history`` so that every number in the
    document can be traced to the run that produced it.
    """
    result = json.loads(json.dumps(old))
    history = result.setdefault("history", [])
    if not history:
        history.append({k: old.get(k) for k in ("machine", "versions", "settings", "seconds")} | {"what": "all"})
    what = [
        f"{d['dataset']}: "
        + ", ".join(
            sorted({f"{r['model']}@{r['n_train']}" for r in d["runs"]}) + (["step timing"] if "step_time" in d else [])
        )
        for d in new["datasets"]
    ]
    history.append({k: new.get(k) for k in ("machine", "versions", "settings", "seconds")} | {"what": what})
    for entry in new["datasets"]:
        found = [d for d in result["datasets"] if d["dataset"] == entry["dataset"]]
        if not found:
            result["datasets"].append(entry)
            continue
        target = found[0]
        keys = {(r["model"], r["n_train"]) for r in entry["runs"]}
        target["runs"] = [r for r in target["runs"] if (r["model"], r["n_train"]) not in keys] + entry["runs"]
        target["runs"].sort(key=lambda r: (r["n_train"], MODELS.index(r["model"])))
        for key in ("step_time", "step_time_by_width", "hidden_size"):
            if key in entry:
                target[key] = entry[key]
        target["targets"] = targets(target)
    if "promote_then_enforce" in new:
        result["promote_then_enforce"] = new["promote_then_enforce"]
    result["machine"], result["versions"] = new["machine"], new["versions"]
    result["summary"] = summary(result)
    return result


def summary(result: dict[str, Any]) -> dict[str, int]:
    """Targets met over all datasets."""
    found = [t for d in result["datasets"] for t in d.get("targets", {}).values()]
    return {"targets_met": int(sum(found)), "targets_total": len(found)}


def plot(result: dict[str, Any], path: Path) -> None:
    """Data-efficiency curves (test MSE vs n_train, log-log), one panel per dataset, with EMLP's published points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = result["datasets"]
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.5 * len(datasets), 3.8), squeeze=False)
    for ax, entry in zip(axes[0], datasets):
        for kind in dict.fromkeys(r["model"] for r in entry["runs"]):
            runs = sorted((r for r in entry["runs"] if r["model"] == kind), key=lambda r: r["n_train"])
            ax.plot([r["n_train"] for r in runs], [r["test_mse"] for r in runs], marker="o", label=kind)
        published = entry["published_n1000"]
        ax.scatter([1000], [published["emlp"]], marker="*", s=160, color="black", label="EMLP (published)", zorder=5)
        ax.scatter([1000], [published["mlp"]], marker="x", s=80, color="gray", label="MLP (published)", zorder=5)
        ax.set(xscale="log", yscale="log", xlabel="training set size", ylabel="test MSE", title=entry["dataset"])
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def table(result: dict[str, Any]) -> Any:
    """A rich table: test MSE per dataset, size and model, with the published numbers and step-time ratio."""
    from rich.table import Table

    out = Table(title="symlie bench nn: test MSE (float32)", title_justify="left")
    for header in ("dataset", "n", *MODELS, "EMLP paper", "step ratio", "equiv. err"):
        out.add_column(header, justify="left" if header == "dataset" else "right")
    for entry in result["datasets"]:
        sizes = sorted({r["n_train"] for r in entry["runs"]})
        for n in sizes:
            cells = []
            for kind in MODELS:
                match = [r for r in entry["runs"] if r["n_train"] == n and r["model"] == kind]
                cells.append(f"{match[0]['test_mse']:.3g}" if match else "-")
            emlp = [r for r in entry["runs"] if r["n_train"] == n and r["model"] == "emlp"]
            out.add_row(
                entry["dataset"],
                str(n),
                *cells,
                f"{entry['published_n1000']['emlp']:.3g}" if n == 1000 else "",
                f"{entry['step_time']['ratio']:.2f}x" if n == sizes[0] and "step_time" in entry else "",
                f"{emlp[0]['equivariance_error']:.1e}" if emlp else "-",
            )
    return out
