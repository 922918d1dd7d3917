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
from unweave.downstream import raw_representation
from unweave.evaluation import Evaluation, EvaluationSettings, score_checkpoints
from unweave.models.two_step import TwoStepConfig, encoder_update_due
from unweave.training.milestones import kept_checkpoints, select_checkpoints
from unweave.training.run import read_run_config
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
    goals: dict[str, tuple[str, float | str]]  # metric -> (op, value, RAW or a target's name)
    folder: str | None = None  # the data's folder under --root, if it reads files
    claim: str = ""
    settings: dict = field(default_factory=dict)  # EvaluationSettings fields
    report: tuple[str, ...] = ()  # figures drawn and kept without a goal


def keep_at_epochs(epochs: tuple[int, ...], steps_per_epoch: int) -> str:
    """``train.keep_checkpoints_at`` at the ends of ``epochs``."""
    return f"train.keep_checkpoints_at=[{','.join(str(e * steps_per_epoch) for e in epochs)}]"


def two_step_keep(epochs: tuple[int, ...], step1_epochs: int, batches: int) -> str:
    """``train.keep_checkpoints_at`` at the ends of Two-Step's ``epochs``: its global step
    counts every optimiser step, one a batch in step 1, then the adversary's on every batch
    plus the Z-encoder's on the batches :func:`encoder_update_due` picks."""
    config = TwoStepConfig(step1_epochs=step1_epochs)
    steps, total = [], 0
    for epoch in range(max(epochs)):
        total += batches
        if epoch >= step1_epochs:
            total += sum(
                encoder_update_due(epoch - step1_epochs, b, config) for b in range(batches)
            )
        if epoch + 1 in epochs:
            steps.append(total)
    return f"train.keep_checkpoints_at=[{','.join(map(str, steps))}]"


def two_step_goals(label: str, chance: float) -> dict[str, tuple[str, float]]:
    """Two-Step's claim on its ``label``: a fresh probe reads it from S (the code of that
    name) at >= 0.95, and from Z (the other code) within 0.05 of ``chance``."""
    other = "style" if label == "content" else "content"
    return {
        f"probe/{label} from {other} code": ("<=", chance + 0.05),
        f"probe/{label} from {label} code": (">=", 0.95),
    }


#: Epochs at which the 300-epoch series runs keep a checkpoint (the cpu presets train 30).
SERIES_EPOCHS = (3, 6, 10, 15, 30, 60, 100, 150, 200, 300)
SYNTHETIC_GOALS = {"probe/static->level": (">=", 0.90), "probe/static->family": (">=", 0.90)}
# 9,000 clips in batches of 64: 140 steps an epoch; 54 epochs = 3x the cpu presets.
SPRITES_KEEP = keep_at_epochs((3, 6, 12, 18, 27, 36, 54), 140)
SPRITES_GOALS = {
    "judge/sample_static/acc/action": (">=", 0.90),
    **{f"judge/sample_dynamic/acc/{f}": (">=", 0.90) for f in ("skin", "pants", "top", "hair")},
    "judge/sample_dynamic/acc/action": ("<=", 0.30),
}
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
    # The judge protocol at each checkpoint makes 1 pass (20 batches of 128 test clips).
    "dbse-sprites": Target(
        "dbse", "sprites", "cpu",
        ("train.max_epochs=54", SPRITES_KEEP), "judge", SPRITES_GOALS,
        folder="sprites-lpc", settings={"niter": 1},
        claim="static sampled keeps the action; dynamics sampled keep the look, not the action",
    ),
    "dsvae-sprites": Target(
        "dsvae", "sprites", "cpu", ("train.max_epochs=54", SPRITES_KEEP), "judge", SPRITES_GOALS,
        folder="sprites-lpc", settings={"niter": 1},
        claim="DSVAE at DBSE's budget, on the same protocol",
    ),
    # The paper preset is the reference's schedule (40 epochs of step 1, 400 of step 2) and
    # its model: 1,600 samples x 10 digits in batches of 100 = 160 batches an epoch.
    "two-step-coloured-digits": Target(
        "two-step", "coloured-digits", "paper",
        (two_step_keep((20, 40, 60, 80, 120, 160, 240, 320, 440), 40, 160),), "content_style",
        two_step_goals("content", 0.10),  # chance: 10 digits
        folder="mnist", claim="a fresh probe reads the digit from S, not from Z",
    ),
    # 800 pages x 10 digits in batches of 100: 80 batches an epoch; V3's comparison.
    "two-step-phonenums": Target(
        "two-step", "phonenums", "paper",
        (two_step_keep((20, 40, 80, 160, 300, 440), 40, 80),), "content_style",
        two_step_goals("content", 0.10),  # chance: 10 digits
        claim="a fresh probe reads the digit from S, not from Z", report=("ood/zero_shot",),
    ),
    # 800 pages in batches of 32: 25 steps an epoch; 64 epochs = 4x the cpu preset. The
    # zero-shot goal is Two-Step's final figure on the same held-out colours.
    "v3-phonenums": Target(
        "v3", "phonenums", "cpu",
        ("train.max_epochs=64", keep_at_epochs((2, 4, 8, 16, 24, 32, 48, 64), 25)),
        "content_style",
        {"codebook/purity": (">=", 0.90), "ood/zero_shot": (">=", "two-step-phonenums")},
        claim="each codebook atom stands for one digit; held-out colours read zero-shot",
    ),
    # 480 notes samples x 12 fragments in batches of 100 fragments: 57 batches an epoch; the
    # cpu preset's 100 epochs (20 of step 1). Its zero-shot figure is V3's goal on notes.
    "two-step-notes": Target(
        "two-step", "notes", "cpu",
        (two_step_keep((10, 20, 30, 40, 60, 80, 100), 20, 57),), "content_style",
        two_step_goals("content", 1 / 12),  # chance: 12 pitches
        claim="a fresh probe reads the pitch from S, not from Z", report=("ood/zero_shot",),
    ),
    # 480 samples in batches of 32: 15 steps an epoch; 44 epochs = 4x the cpu preset.
    "v3-notes": Target(
        "v3", "notes", "cpu",
        ("train.max_epochs=44", keep_at_epochs((2, 4, 8, 11, 16, 22, 33, 44), 15)),
        "content_style",
        {"codebook/purity": (">=", 0.90), "ood/zero_shot": (">=", "two-step-notes")},
        claim="each codebook atom stands for one pitch; held-out instruments read zero-shot",
    ),
    # 7,000 training clips x 8 frames in batches of 100: 560 batches an epoch; S learns the
    # character (1,000 of them), Z the rest; the cpu preset's 17 epochs (5 of step 1) x 2.
    "two-step-sprites-characters": Target(
        "two-step", "sprites-fragments", "cpu",
        ("train.max_epochs=34", two_step_keep((2, 5, 8, 12, 17, 24, 34), 5, 560)),
        "content_style",
        two_step_goals("style", 1 / 1000),  # chance: 1,000 characters
        folder="sprites-lpc", claim="a fresh probe reads the character from S, not from Z",
    ),
}  # fmt: skip

RAW = "raw features"  # a goal that is the same figure read from the raw features
#: Series data -> (folder, batches an epoch of the paper preset, epochs to keep, goals). The
#: paper presets run on a CPU here (docs/performance.md): ETTh1 in minutes, PhysioNet in
#: about half an hour, air quality in about 80 minutes a run.
SERIES_DOWNSTREAM = {
    "etth1": ("ett", 2, (10, 20, 40, 80, 150, 300), {"downstream/etth1-ot/mae": ("<=", RAW)}),
    "physionet": (
        "physionet2012",
        49,
        (5, 10, 25, 50, 100, 175, 250),
        {
            "downstream/mortality/auroc": (">=", RAW),
            "downstream/mortality/auprc": (">=", RAW),
            "downstream/icu-type/accuracy": (">=", RAW),
        },
    ),
    "air-quality": (
        "air-quality",
        44,
        (5, 10, 20, 40, 80, 140, 200),
        {"downstream/month/accuracy": (">=", RAW)},
    ),
}
#: Target name suffix -> (method, preset): DBSE as the paper's text and as the authors' code
#: run it, and the same-size non-disentangled VAE.
SERIES_VARIANTS = {
    "dbse": ("dbse", "paper"),
    "dbse-reference": ("dbse", "reference"),
    "seqvae": ("seqvae", "paper"),
}
TARGETS.update({
    f"{variant}-{data}": Target(
        method, data, preset, (keep_at_epochs(epochs, batches),), "downstream", goals,
        folder=folder, claim=f"{method} ({preset} preset) beside the raw features, downstream",
    )
    for data, (folder, batches, epochs, goals) in SERIES_DOWNSTREAM.items()
    for variant, (method, preset) in SERIES_VARIANTS.items()
})  # fmt: skip


def resolve_goals(
    target: Target, evaluation: Evaluation, results: dict
) -> dict[str, tuple[str, float]]:
    """The target's goals, each :data:`RAW` one replaced by the raw features' figure and each
    named after another target by that target's final figure (scored before this one)."""
    raw: dict[str, float] = {}
    if any(value == RAW for _, value in target.goals.values()):
        window = read_run_config(evaluation.run)["model"]["window"]
        raw = evaluation.downstream(raw_representation(window))

    def resolve(metric: str, value: float | str) -> float:
        if value == RAW:
            return raw[metric]
        if isinstance(value, str):
            if metric not in results.get(value, {}).get("final", {}):
                raise SystemExit(f"The goal for {metric} is {value}'s figure: score {value} first.")
            return results[value]["final"][metric]
        return value

    return {m: (op, resolve(m, value)) for m, (op, value) in target.goals.items()}


def score(name: str, target: Target, root: Path | None, runs: Path, results: dict) -> dict:
    """Train (or reuse) the target's run, score its unscored checkpoints; its curve and figures."""
    data_root = root / target.folder if root is not None and target.folder else None
    run, seconds = ensure_run(
        target.method, target.data, data_root, runs, "budget", target.preset,
        target.overrides, name=f"budget-{name}",
    )  # fmt: skip
    scored = {
        row["step"]
        for row in scored_checkpoints(run)
        if {*target.goals, *target.report} <= set(row)
    }
    done = {path for step, path in kept_checkpoints(run / "checkpoints").items() if step in scored}
    paths = [p for p in select_checkpoints(run, "all") if p not in done]
    start = time.perf_counter()
    evaluation = Evaluation(
        run, data_modality(target.data), [target.group], EvaluationSettings(**target.settings),
        data_root,
    )  # fmt: skip
    for _ in score_checkpoints(evaluation, paths):
        pass
    goals = resolve_goals(target, evaluation, results)
    curves = {metric: read_curve(run, metric) for metric in [*goals, *target.report]}
    save_figure(
        curve_figure(curves, "figure", goals={m: g[1] for m, g in goals.items()}),
        IMAGES / f"budget-{name}.png",
    )
    final = {metric: points[-1]["value"] for metric, points in curves.items()}
    return {
        "claim": target.claim,
        "run": {"method": target.method, "data": target.data, "preset": target.preset,
                "overrides": list(target.overrides)},
        "goals": {m: list(g) for m, g in goals.items()},
        "goal_sources": {m: v for m, (_, v) in target.goals.items() if isinstance(v, str)},
        "final": final,
        "met": {m: COMPARE[op](final[m], value) for m, (op, value) in goals.items()},
        "curves": curves,
        "train_minutes": None if seconds is None else seconds / 60,
        "eval_minutes": (time.perf_counter() - start) / 60,
        "machine": machine(),
    }  # fmt: skip


def table(results: dict) -> str:
    """A Markdown table: one row per (target, figure); figures without a goal show the last."""
    lines = [
        "| target | figure | goal | best (step) | last (step) | met |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in results.items():
        sources = entry.get("goal_sources", {})
        for metric, (op, value) in entry["goals"].items():
            points = entry["curves"][metric]
            pick = max if op == ">=" else min
            best = pick(points, key=lambda p: p["value"])
            last = points[-1]
            source = f" ({sources[metric]})" if metric in sources else ""
            lines.append(
                f"| {name} | `{metric}` | {op} {value:.3g}{source} "
                f"| {best['value']:.3f} ({best['step']}) "
                f"| {last['value']:.3f} ({last['step']}) | {'yes' if entry['met'][metric] else 'no'} |"
            )
        for metric in sorted(set(entry["curves"]) - set(entry["goals"])):
            last = entry["curves"][metric][-1]
            lines.append(
                f"| {name} | `{metric}` | - | - | {last['value']:.3f} ({last['step']}) | - |"
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
        record(OUT, results, name, score(name, TARGETS[name], args.root, args.runs, results))
    print(table({name: results[name] for name in args.targets or TARGETS if name in results}))


if __name__ == "__main__":
    main()
