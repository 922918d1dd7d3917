"""Benchmark: each method's claim, as a figure scored at every kept checkpoint of one longer
run, so the curve shows whether more training would reach the target or the figure has
stopped moving (a budget question or something else).

Each target is one entry of ``TARGETS``: a run (method, data, preset, overrides that set the
budget and the steps to keep), the metric group that scores it, and the goals. The script
trains the run (or resumes / reuses it in ``--runs``), scores every kept checkpoint not
scored yet (``unweave evaluate --checkpoints all`` does the same), draws one curve per
target into ``docs/images/budget-<target>.png`` and writes
``benchmarks/results/budget_curves.json``; it prints a Markdown table.

    python benchmarks/budget_curves.py [TARGET ...] [--root ../shared/data] [--runs runs]
    python benchmarks/budget_curves.py --list

Targets judged by the judge protocol need the judge first, e.g. for Sprites at 32x32:
``unweave judge train --data sprites --root ../shared/data/sprites-lpc --image-size 32``.
"""

from __future__ import annotations

import argparse
import json
import operator
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import ensure_run, machine, record

from unweave.data.registry import data_modality
from unweave.evaluation import Evaluation, EvaluationSettings, score_checkpoints
from unweave.training.milestones import kept_checkpoints, select_checkpoints
from unweave.viz.curves import curve_figure, read_curve, scored_checkpoints
from unweave.viz.plots import save_figure

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "budget_curves.json"
IMAGES = REPO / "docs" / "images"
COMPARE = {">=": operator.ge, "<=": operator.le}


@dataclass(frozen=True)
class Target:
    """One claim: a run, the metric group that scores it and each figure's goal."""

    method: str
    data: str
    preset: str
    overrides: tuple[str, ...]
    group: str
    goals: dict[str, tuple[str, float]]  # metric -> (">=" or "<=", value)
    folder: str | None = None  # the data's folder under --root, if it reads files
    claim: str = ""
    settings: dict = field(default_factory=dict)  # EvaluationSettings fields


def keep_at_epochs(epochs: tuple[int, ...], steps_per_epoch: int) -> str:
    """``train.keep_checkpoints_at`` at the ends of ``epochs``."""
    return f"train.keep_checkpoints_at=[{','.join(str(e * steps_per_epoch) for e in epochs)}]"


#: Epochs at which the 300-epoch series runs keep a checkpoint (the cpu presets train 30).
SERIES_EPOCHS = (3, 6, 10, 15, 30, 60, 100, 150, 200, 300)
SYNTHETIC_GOALS = {"probe/static->level": (">=", 0.90), "probe/static->family": (">=", 0.90)}
TARGETS: dict[str, Target] = {
    # 2,000 series in batches of 64: 31 steps an epoch; 300 epochs = 10x the cpu preset.
    "dbse-synthetic-series": Target(
        "dbse", "synthetic-series", "cpu",
        ("train.max_epochs=300", keep_at_epochs(SERIES_EPOCHS, 31)), "probes", SYNTHETIC_GOALS,
        claim="the static code reads level and profile family (linear probe)",
    ),
    "dbse-synthetic-series-reference": Target(
        "dbse", "synthetic-series", "cpu-reference",
        ("train.max_epochs=300", keep_at_epochs(SERIES_EPOCHS, 31)), "probes", SYNTHETIC_GOALS,
        claim="as above, with the reference code's raw dynamic input",
    ),
    # 9,000 clips in batches of 64: 140 steps an epoch; 54 epochs = 3x the cpu preset.
    # The judge protocol at each checkpoint makes 1 pass (20 batches of 128 test clips).
    "dbse-sprites": Target(
        "dbse", "sprites", "cpu",
        ("train.max_epochs=54", keep_at_epochs((3, 6, 12, 18, 27, 36, 54), 140)), "judge",
        {
            "judge/sample_static/acc/action": (">=", 0.90),
            **{f"judge/sample_dynamic/acc/{f}": (">=", 0.90)
               for f in ("skin", "pants", "top", "hair")},
            "judge/sample_dynamic/acc/action": ("<=", 0.30),
        },
        folder="sprites-lpc", settings={"niter": 1},
        claim="static sampled keeps the action; dynamics sampled keep the look, not the action",
    ),
}  # fmt: skip


def score(name: str, target: Target, root: Path | None, runs: Path) -> dict:
    """Train (or reuse) the target's run, score its unscored checkpoints; its curve and figures."""
    data_root = root / target.folder if root is not None and target.folder else None
    run, seconds = ensure_run(
        target.method, target.data, data_root, runs, "budget", target.preset,
        target.overrides, name=f"budget-{name}",
    )  # fmt: skip
    scored = {row["step"] for row in scored_checkpoints(run) if set(target.goals) <= set(row)}
    done = {path for step, path in kept_checkpoints(run / "checkpoints").items() if step in scored}
    paths = [p for p in select_checkpoints(run, "all") if p not in done]
    start = time.perf_counter()
    evaluation = Evaluation(
        run, data_modality(target.data), [target.group], EvaluationSettings(**target.settings),
        data_root,
    )  # fmt: skip
    for _ in score_checkpoints(evaluation, paths):
        pass
    curves = {metric: read_curve(run, metric) for metric in target.goals}
    save_figure(
        curve_figure(curves, "figure", goals={m: g[1] for m, g in target.goals.items()}),
        IMAGES / f"budget-{name}.png",
    )
    final = {metric: points[-1]["value"] for metric, points in curves.items()}
    return {
        "claim": target.claim,
        "run": {"method": target.method, "data": target.data, "preset": target.preset,
                "overrides": list(target.overrides)},
        "goals": {m: list(g) for m, g in target.goals.items()},
        "final": final,
        "met": {m: COMPARE[op](final[m], value) for m, (op, value) in target.goals.items()},
        "curves": curves,
        "train_minutes": None if seconds is None else seconds / 60,
        "eval_minutes": (time.perf_counter() - start) / 60,
        "machine": machine(),
    }  # fmt: skip


def table(results: dict) -> str:
    """A Markdown table: one row per (target, figure)."""
    lines = [
        "| target | figure | goal | best (step) | last (step) | met |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in results.items():
        for metric, (op, value) in entry["goals"].items():
            points = entry["curves"][metric]
            pick = max if op == ">=" else min
            best = pick(points, key=lambda p: p["value"])
            last = points[-1]
            lines.append(
                f"| {name} | `{metric}` | {op} {value:g} | {best['value']:.3f} ({best['step']}) "
                f"| {last['value']:.3f} ({last['step']}) | {'yes' if entry['met'][metric] else 'no'} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help=f"default: all of {', '.join(TARGETS)}")
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--runs", type=Path, default=REPO / "runs")
    parser.add_argument("--list", action="store_true", help="list the targets and stop")
    args = parser.parse_args()
    if args.list:
        for name, target in TARGETS.items():
            print(f"{name}: {target.method} {target.preset} on {target.data}: {target.claim}")
        return
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target {unknown[0]}; expected some of: {', '.join(TARGETS)}")
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    for name in args.targets or list(TARGETS):
        record(OUT, results, name, score(name, TARGETS[name], args.root, args.runs))
    print(table({name: results[name] for name in args.targets or TARGETS if name in results}))


if __name__ == "__main__":
    main()
