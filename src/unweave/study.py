"""A study: methods x seeds on one ground-truth image set -> the classic metrics, mean +- std.

Each (method, seed) is a run ``<out>/runs/<method>-seed<seed>``: trained with ``unweave train``
(preset, ``train.seed`` = seed, ``--set`` overrides) and evaluated with ``unweave evaluate
--metrics classic``. Runs go as separate processes, ``jobs`` at a time, with the cores shared
out between them (``OMP_NUM_THREADS``); each writes its log to ``<out>/logs/``. Calling the
study again skips finished runs and resumes interrupted ones from their last checkpoint.
Written at the end: ``study.json`` (every run's figures and the aggregate), ``study.md``
(the table) and ``study.png`` (bars with the standard deviation over seeds). With
``curve_points`` = N, each run also keeps N - 1 checkpoints (at 1/2, 1/4, ... of its
``train.max_steps``), every one is scored (``unweave evaluate --checkpoints all``) and
``curves/<score>.png`` draw each method's mean over seeds against steps and minutes. With
``report_only`` nothing is trained: the table covers the runs finished so far, and says how
many are not.

Processes, not threads or Lightning's strategies: each run is an ordinary ``unweave`` command,
so a study needs no state beyond the run folders and resumes by rerunning itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from unweave.atomic import write_atomic
from unweave.errors import UnweaveError

#: Table columns: eval.json key -> heading (disentanglement_lib's scores, eval accuracies).
COLUMNS = {
    "classic/beta_vae_eval_accuracy": "BetaVAE",
    "classic/factor_vae_eval_accuracy": "FactorVAE",
    "classic/mig": "MIG",
    "classic/dci_disentanglement": "DCI disentanglement",
    "classic/sap": "SAP",
}


@dataclass(frozen=True)
class StudyRun:
    """One (method, seed) of a study and where it lives."""

    method: str
    seed: int
    out: Path

    @property
    def name(self) -> str:
        return f"{self.method}-seed{self.seed}"

    @property
    def folder(self) -> Path:
        return self.out / "runs" / self.name

    @property
    def log(self) -> Path:
        return self.out / "logs" / f"{self.name}.log"

    def evaluated(self) -> bool:
        path = self.folder / "eval.json"
        return path.exists() and all(k in json.loads(path.read_text()) for k in COLUMNS)

    def curve_scored(self, points: int) -> bool:
        """Whether ``points`` checkpoints (the kept ones and the last) are scored."""
        from unweave.viz.curves import scored_checkpoints

        rows = scored_checkpoints(self.folder)
        return sum(all(k in row for k in COLUMNS) for row in rows) >= points


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "unweave", *args]


def _run_one(
    run: StudyRun, data: str, root: str | None, preset: str, overrides: list[str],
    metric_preset: str, kept: list[int], threads: int,
) -> str | None:  # fmt: skip
    """Train (or resume) and evaluate one run (and its ``kept`` checkpoints, if any); None on
    success, else the failure's summary."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    if kept:
        overrides = [*overrides, f"train.keep_checkpoints_at=[{','.join(map(str, kept))}]"]
    steps = []
    if not (run.folder / "model.safetensors").exists():
        train = ["train", run.method, "--data", data, "--preset", preset, "--name", run.name]
        train += ["--runs-dir", str(run.out / "runs")]
        train += ["--root", root] if root else []
        for setting in [*overrides, f"train.seed={run.seed}"]:
            train += ["--set", setting]
        if (run.folder / "checkpoints" / "last.ckpt").exists():
            train.append("--resume")
        steps.append(train)
    evaluate = ["evaluate", str(run.folder), "--metrics", "classic"]
    evaluate += ["--metric-preset", metric_preset, "--seed", str(run.seed)]
    evaluate += ["--root", root] if root else []
    if not run.evaluated():
        steps.append(evaluate)
    if kept and not run.curve_scored(len(kept) + 1):
        steps.append([*evaluate, "--checkpoints", "all"])
    run.log.parent.mkdir(parents=True, exist_ok=True)
    with open(run.log, "a") as log:
        for args in steps:
            log.write(f"$ OMP_NUM_THREADS={threads} unweave {' '.join(args)}\n")
            log.flush()
            done = subprocess.run(_command(*args), stdout=log, stderr=subprocess.STDOUT, env=env)
            if done.returncode != 0:
                return f"{run.name}: 'unweave {args[0]}' failed (exit {done.returncode}); see {run.log}"
    return None


def run_study(
    methods: list[str],
    seeds: list[int],
    data: str,
    out: Path,
    root: str | None = None,
    preset: str = "cpu",
    overrides: list[str] = (),
    metric_preset: str = "reference",
    jobs: int = 1,
    report_only: bool = False,
    curve_points: int = 0,
) -> dict:
    """Train and evaluate every (method, seed) not done yet, then aggregate; returns the
    summary written to ``study.json``. ``report_only``: aggregate the finished runs only;
    ``curve_points``: also score that many checkpoints of each run (0: none)."""
    if not methods or not seeds:
        raise UnweaveError("A study needs at least one method and one seed.")
    if jobs < 1:
        raise UnweaveError(f"jobs is {jobs}; expected 1 or more parallel runs.")
    _check_settings(methods, data, root, preset, list(overrides))
    kept = _kept_steps(methods, data, root, preset, list(overrides), curve_points)
    # Seed-major: a study stopped early still has every method at its first seeds.
    runs = [StudyRun(m, s, Path(out)) for s in seeds for m in methods]
    todo = [
        r for r in runs
        if not r.evaluated() or (curve_points and not r.curve_scored(curve_points))
    ]  # fmt: skip
    if report_only:
        done = [r for r in runs if r not in todo]
        if not done:
            raise UnweaveError(
                f"No run of this study in {out} has finished yet; run it without --report-only."
            )
        return write_summary(
            done, data, preset, metric_preset, Path(out), len(todo), curves=bool(curve_points)
        )
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = max(1, (cores or 1) // jobs)
    tqdm.write(
        f"{len(todo)} run(s) to do, {jobs} at a time, each with {threads} torch thread(s) "
        f"(OMP_NUM_THREADS) on this machine's {cores} core(s)."
    )
    failures = []
    with (
        ThreadPoolExecutor(max_workers=jobs) as pool,
        tqdm(total=len(runs), desc="study", unit="run") as bar,
    ):
        bar.update(len(runs) - len(todo))
        futures = [
            pool.submit(
                _run_one,
                r,
                data,
                root,
                preset,
                list(overrides),
                metric_preset,
                kept.get(r.method, []),
                threads,
            )  # fmt: skip
            for r in todo
        ]
        for future in futures:
            failure = future.result()
            bar.update(1)
            if failure:
                failures.append(failure)
    if failures:
        raise UnweaveError(f"{len(failures)} run(s) failed; first: {failures[0]}")
    return write_summary(runs, data, preset, metric_preset, Path(out), curves=bool(curve_points))


def _check_settings(
    methods: list[str], data: str, root: str | None, preset: str, overrides: list[str]
) -> None:
    """Resolve every method's config now, so a typo fails before any run starts."""
    from unweave.data.registry import data_modality
    from unweave.training.config import resolve

    if data_modality(data) != "images":
        raise UnweaveError(
            f"A study runs on a ground-truth image set; '{data}' is not one (dsprites, shapes3d)."
        )
    for method in methods:
        resolve(method, data, preset, root, overrides)


def _kept_steps(
    methods: list[str], data: str, root: str | None, preset: str, overrides: list[str],
    points: int,
) -> dict[str, list[int]]:  # fmt: skip
    """Per method, the ``points - 1`` steps to keep: ``max_steps / 2, / 4, ...`` (ascending);
    the last checkpoint is the curve's final point."""
    from unweave.training.config import resolve

    if points < 0:
        raise UnweaveError(f"curve points is {points}; expected 0 (no curves) or more.")
    kept = {}
    for method in methods if points else []:
        max_steps = resolve(method, data, preset, root, overrides)["train"].get("max_steps")
        if max_steps is None or max_steps < 1:
            raise UnweaveError(
                f"Curves keep checkpoints at fractions of train.max_steps, which {method}'s "
                f"'{preset}' run does not limit; add --set train.max_steps=N."
            )
        steps = {max_steps >> k for k in range(1, points)} - {0}
        kept[method] = sorted(steps)
    return kept


def aggregate(runs: list[StudyRun]) -> dict[str, dict[str, float]]:
    """Per method: the mean and (sample) std over seeds of each column, as ``key`` and
    ``key_std``."""
    table: dict[str, dict[str, float]] = {}
    for method in dict.fromkeys(r.method for r in runs):
        scores = [
            json.loads((r.folder / "eval.json").read_text()) for r in runs if r.method == method
        ]
        row = {}
        for key, heading in COLUMNS.items():
            values = np.array([s[key] for s in scores], dtype=float)
            row[heading] = float(values.mean())
            row[f"{heading}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        table[method] = row
    return table


def markdown(
    table: dict[str, dict[str, float]], seeds_per_method: dict[str, int], unfinished: int = 0
) -> str:
    """The table: one row per method, ``mean +- std`` over its seeds, and their count."""
    head = ["method", *COLUMNS.values(), "seeds"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for method, row in table.items():
        cells = [f"{row[h]:.3f} ± {row[f'{h}_std']:.3f}" for h in COLUMNS.values()]
        lines.append("| " + " | ".join([method, *cells, str(seeds_per_method[method])]) + " |")
    lines.append("\nMean ± standard deviation over each method's seeds.")
    if unfinished:
        lines.append(f"{unfinished} run(s) of the study are not finished and not counted.")
    return "\n".join(lines)


def write_summary(
    runs: list[StudyRun],
    data: str,
    preset: str,
    metric_preset: str,
    out: Path,
    unfinished: int = 0,
    curves: bool = False,
) -> dict:
    """``study.json``, ``study.md`` and ``study.png`` in ``out`` from the (evaluated) ``runs``;
    ``unfinished`` counts the study's runs left out; ``curves``: also ``curves/<score>.png``,
    each method's mean over seeds at every scored checkpoint."""
    from unweave.viz.plots import metric_bars_png
    from unweave.viz.swap import _save_atomic

    table = aggregate(runs)
    seeds = sorted({r.seed for r in runs})
    seeds_per_method = {m: sum(r.method == m for r in runs) for m in table}
    summary = {
        "data": data,
        "preset": preset,
        "metric_preset": metric_preset,
        "seeds": seeds,
        "seeds_per_method": seeds_per_method,
        "unfinished": unfinished,
        "table": table,
        "runs": {r.name: json.loads((r.folder / "eval.json").read_text()) for r in runs},
    }
    write_atomic(out / "study.json", json.dumps(summary, indent=1))
    write_atomic(out / "study.md", markdown(table, seeds_per_method, unfinished) + "\n")
    image = metric_bars_png(table)
    _save_atomic(lambda p: p.write_bytes(image), out / "study.png")
    if curves:
        summary["curves"] = write_curves(runs, out / "curves")
        write_atomic(out / "study.json", json.dumps(summary, indent=1))
    return summary


def write_curves(runs: list[StudyRun], folder: Path) -> dict[str, dict[str, Any]]:
    """``folder/<score>.png`` for each column: every method's mean (and std) over its seeds at
    each scored checkpoint; returns ``{score: {method: curve}}``."""
    from unweave.viz.curves import curve_figure, mean_curve, read_curve
    from unweave.viz.plots import save_figure

    curves: dict[str, dict[str, Any]] = {}
    for key, heading in COLUMNS.items():
        by_method = {
            method: mean_curve([read_curve(r.folder, key) for r in runs if r.method == method])
            for method in dict.fromkeys(r.method for r in runs)
        }
        save_figure(curve_figure(by_method, heading), folder / f"{heading.replace(' ', '-')}.png")
        curves[heading] = by_method
    return curves
