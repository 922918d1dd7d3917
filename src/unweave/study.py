"""A study: methods x seeds on one ground-truth image set -> the classic metrics, mean +- std.

Each (method, seed) is a run ``<out>/runs/<method>-seed<seed>``: trained with ``unweave train``
(preset, ``train.seed`` = seed, ``--set`` overrides) and evaluated with ``unweave evaluate
--metrics classic``. Runs go as separate processes, ``jobs`` at a time, with the cores shared
out between them (``OMP_NUM_THREADS``); each writes its log to ``<out>/logs/``. Calling the
study again skips finished runs and resumes interrupted ones from their last checkpoint.
Written at the end: ``study.json`` (every run's figures and the aggregate), ``study.md``
(the table) and ``study.png`` (bars with the standard deviation over seeds). With
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


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "unweave", *args]


def _run_one(
    run: StudyRun, data: str, root: str | None, preset: str, overrides: list[str],
    metric_preset: str, threads: int,
) -> str | None:  # fmt: skip
    """Train (or resume) and evaluate one run; None on success, else the failure's summary."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
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
    if not run.evaluated():
        evaluate = ["evaluate", str(run.folder), "--metrics", "classic"]
        evaluate += ["--metric-preset", metric_preset, "--seed", str(run.seed)]
        evaluate += ["--root", root] if root else []
        steps.append(evaluate)
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
) -> dict:
    """Train and evaluate every (method, seed) not done yet, then aggregate; returns the
    summary written to ``study.json``. ``report_only``: aggregate the finished runs only."""
    if not methods or not seeds:
        raise UnweaveError("A study needs at least one method and one seed.")
    if jobs < 1:
        raise UnweaveError(f"jobs is {jobs}; expected 1 or more parallel runs.")
    _check_settings(methods, data, root, preset, list(overrides))
    # Seed-major: a study stopped early still has every method at its first seeds.
    runs = [StudyRun(m, s, Path(out)) for s in seeds for m in methods]
    todo = [r for r in runs if not r.evaluated()]
    if report_only:
        done = [r for r in runs if r not in todo]
        if not done:
            raise UnweaveError(
                f"No run of this study in {out} has finished yet; run it without --report-only."
            )
        return write_summary(done, data, preset, metric_preset, Path(out), unfinished=len(todo))
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
            pool.submit(_run_one, r, data, root, preset, list(overrides), metric_preset, threads)
            for r in todo
        ]
        for future in futures:
            failure = future.result()
            bar.update(1)
            if failure:
                failures.append(failure)
    if failures:
        raise UnweaveError(f"{len(failures)} run(s) failed; first: {failures[0]}")
    return write_summary(runs, data, preset, metric_preset, Path(out))


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
) -> dict:
    """``study.json``, ``study.md`` and ``study.png`` in ``out`` from the (evaluated) ``runs``;
    ``unfinished`` counts the study's runs left out."""
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
    return summary
