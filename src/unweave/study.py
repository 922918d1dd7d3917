"""A study: methods x data sets x seeds x a grid of settings -> the field's figures, mean +-
std over seeds (disentanglement_lib's study, for every modality a study can judge).

Each cell of the grid is a run ``<out>/runs/<name>``, named by its settings (method, data set
when there are several, grid settings, seed): trained with ``unweave train`` (preset,
``train.seed`` = seed, ``--set`` overrides and the cell's grid settings) and evaluated with
``unweave evaluate``: on a ground-truth image set (dSprites, 3DShapes) the classic metrics;
on labelled video (Sprites, toy sprites) the judge protocol and the probes' leakage, after
``unweave judge train`` (cached, so the judge is trained once), with each run's swap grid
drawn into ``<out>/swaps/``. Each run's training minutes join the table.

Cells run on an engine (:mod:`unweave.engines`): local processes, ``jobs`` at a time with the
cores shared out between them, or Ray tasks on a cluster, retried when a worker or a node is
lost; ``run_cell`` runs one cell by its index (a SLURM array's task). A cell is an ordinary
``unweave`` command on its own folder, so a study needs no state beyond the run folders:
calling it again skips finished cells and resumes interrupted ones from their last
checkpoint, and a cell's folder records the cell (``cell.json``) so that another cell's
settings never train into it. ``study.json`` (every run's figures and the aggregate),
``study.md`` (the table, grouped by any axes) and ``study.png`` are written each time a cell
finishes, so a study stopped early still reports what it has. A finished cell needs only
its records (``cell.json``, ``eval.json``, ``training.json``, its swap grid): a study folder
stripped of weights, checkpoints and logs (what ``.gitignore`` keeps of ``studies/``)
reports the same table and trains nothing. With ``curve_points`` = N,
each run also keeps N - 1 checkpoints (at 1/2, 1/4, ... of its ``train.max_steps``), every one
is scored and ``curves/<score>.png`` draw each group's mean over seeds against steps and
minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from unweave.atomic import write_atomic
from unweave.errors import UnweaveError

#: Table columns of an image study: eval.json key -> heading (disentanglement_lib's scores,
#: eval accuracies).
COLUMNS = {
    "classic/beta_vae_eval_accuracy": "BetaVAE",
    "classic/factor_vae_eval_accuracy": "FactorVAE",
    "classic/mig": "MIG",
    "classic/dci_disentanglement": "DCI disentanglement",
    "classic/sap": "SAP",
}


def judged_columns(static: list[str], dynamic: list[str]) -> dict[str, str]:
    """Table columns of a video study, for the data's ``static`` and ``dynamic`` factor
    names: the judge protocol as the sequential papers' Table 1 (static code drawn: the
    dynamic factors kept, IS, H(y|x), H(y); dynamics drawn: every factor) and the probes'
    leakage (each factor read from the code that should not hold it)."""
    drawn, resampled = "judge/sample_static", "judge/sample_dynamic"
    columns = {f"{drawn}/acc/{name}": f"f drawn: {name}" for name in dynamic}
    columns |= {f"{drawn}/is": "f drawn: IS", f"{drawn}/h_yx": "f drawn: H(y|x)"}
    columns |= {f"{drawn}/h_y": "f drawn: H(y)"}
    columns |= {f"{resampled}/acc/{name}": f"z drawn: {name}" for name in static + dynamic}
    columns |= {f"probe/static->{name}": f"leak f->{name}" for name in dynamic}
    columns |= {f"probe/dynamic->{name}": f"leak z->{name}" for name in static}
    return columns


@dataclass(frozen=True)
class StudyKind:
    """What a study of one data modality evaluates and draws."""

    metrics: str  # the groups 'unweave evaluate --metrics' scores
    judged: bool  # train (or find) the run's judge first, and draw its swap grid


#: Data modality -> what its study does.
KINDS = {"images": StudyKind("classic", judged=False), "video": StudyKind("judge,probes", True)}


@dataclass(frozen=True)
class StudyPlan:
    """What every run of a study shares: its data, preset, evaluation and table columns."""

    data: str
    root: str | None
    preset: str
    overrides: tuple[str, ...]
    metric_preset: str
    kind: StudyKind
    columns: dict[str, str]


@dataclass(frozen=True)
class StudyRun:
    """One cell of a study (method, data set, seed, grid settings) and where it lives."""

    method: str
    seed: int
    out: Path
    data: str = ""
    settings: tuple[tuple[str, str], ...] = ()
    # Whether the data set is part of the name (a study of several data sets).
    named_data: bool = False

    @property
    def name(self) -> str:
        parts = [self.method, *([self.data] if self.named_data else [])]
        parts += [f"{key}={value}" for key, value in self.settings]
        return "-".join([*parts, f"seed{self.seed}"])

    @property
    def folder(self) -> Path:
        return self.out / "runs" / self.name

    @property
    def log(self) -> Path:
        return self.out / "logs" / f"{self.name}.log"

    @property
    def swap_grid(self) -> Path:
        return self.out / "swaps" / f"{self.name}.png"

    def axes(self) -> dict[str, str]:
        """The cell's value on every axis but the seed: method, data and the grid's keys."""
        return {"method": self.method, "data": self.data, **dict(self.settings)}

    def identity(self) -> dict[str, Any]:
        """What ``cell.json`` records: the cell's method, data, seed and grid settings."""
        return {"method": self.method, "data": self.data, "seed": self.seed,
                "settings": dict(self.settings)}  # fmt: skip

    def claim(self) -> None:
        """Record the cell in its folder; one sentence when the folder holds another cell's
        run (nothing is touched then)."""
        path = self.folder / "cell.json"
        if path.exists():
            recorded = json.loads(path.read_text())
            if recorded != self.identity():
                raise UnweaveError(
                    f"{self.folder} holds the run of another cell ({recorded}); expected "
                    f"{self.identity()}. Choose another --out or move that folder."
                )
            return
        config = self.folder / "config.yaml"
        if config.exists():  # a run of a study from before cells were recorded
            from unweave.training.run import read_run_config

            saved = read_run_config(self.folder)
            if saved["method"] != self.method or saved["train"]["seed"] != self.seed:
                raise UnweaveError(
                    f"{self.folder} holds a {saved['method']} run of seed "
                    f"{saved['train']['seed']}; expected {self.method} seed {self.seed}."
                )
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(self.identity(), indent=1))

    def attempts(self) -> int:
        """How many times an engine has started this cell."""
        path = self.out / "logs" / f"{self.name}.attempts"
        return int(path.read_text()) if path.exists() else 0

    def count_attempt(self) -> None:
        path = self.out / "logs" / f"{self.name}.attempts"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, str(self.attempts() + 1))

    def evaluated(self, columns: dict[str, str]) -> bool:
        path = self.folder / "eval.json"
        return path.exists() and all(k in json.loads(path.read_text()) for k in columns)

    def curve_scored(self, points: int, columns: dict[str, str]) -> bool:
        """Whether ``points`` checkpoints (the kept ones and the last) are scored."""
        from unweave.viz.curves import scored_checkpoints

        rows = scored_checkpoints(self.folder)
        return sum(all(k in row for k in columns) for row in rows) >= points

    def minutes(self) -> float | None:
        """Minutes of training its last checkpoint stored (None: not stored)."""
        from unweave.training.run import training_seconds

        seconds = training_seconds(self.folder)
        return None if seconds is None else seconds / 60


@dataclass(frozen=True)
class StudyGrid:
    """The axes of a study: methods x data sets x seeds x ``grid`` (setting -> values)."""

    methods: tuple[str, ...]
    data: tuple[str, ...]
    seeds: tuple[int, ...]
    grid: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def cells(self, out: Path) -> list[StudyRun]:
        """Every cell, seed-major (a study stopped early has every other axis at its first
        seeds), then data set, grid settings and method."""
        keys = [key for key, _ in self.grid]
        combos = list(product(*(values for _, values in self.grid)))
        return [
            StudyRun(
                method,
                seed,
                Path(out),
                data,
                tuple(zip(keys, combo, strict=True)),
                len(self.data) > 1,
            )  # fmt: skip
            for seed in self.seeds
            for data in self.data
            for combo in combos
            for method in self.methods
        ]


def parse_grid(items: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``["model.beta=1,4,16", ...]`` -> ``(("model.beta", ("1", "4", "16")), ...)``."""
    grid = []
    for item in items:
        key, sep, values = item.partition("=")
        choices = tuple(v.strip() for v in values.split(",") if v.strip())
        if not sep or "." not in key or not choices:
            raise UnweaveError(
                f"--grid '{item}' is not SECTION.KEY=V1,V2,...; e.g. --grid model.beta=1,4,16."
            )
        grid.append((key.strip(), choices))
    return tuple(grid)


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "unweave", *args]


def _die_with_parent() -> None:
    """In a cell's ``unweave`` process (Linux): be stopped when the process that started it
    dies, so that a lost worker leaves no orphan training into the cell's folder."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _run_one(run: StudyRun, plan: StudyPlan, kept: list[int], threads: int) -> str | None:
    """Train (or resume) and evaluate one cell (and its ``kept`` checkpoints, if any; for a
    judged study first its judge, then its swap grid); None on success, else the failure's
    summary."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    overrides = [*plan.overrides, *(f"{key}={value}" for key, value in run.settings)]
    if kept:
        overrides.append(f"train.keep_checkpoints_at=[{','.join(map(str, kept))}]")
    root = ["--root", plan.root] if plan.root else []
    run.count_attempt()
    steps = []
    if not (run.folder / "model.safetensors").exists():
        train = ["train", run.method, "--data", run.data, "--preset", plan.preset]
        train += ["--name", run.name, "--runs-dir", str(run.out / "runs"), *root]
        for setting in [*overrides, f"train.seed={run.seed}"]:
            train += ["--set", setting]
        if (run.folder / "checkpoints" / "last.ckpt").exists():
            train.append("--resume")
        steps.append(train)
    evaluate = ["evaluate", str(run.folder), "--metrics", plan.kind.metrics]
    evaluate += ["--metric-preset", plan.metric_preset, "--seed", str(run.seed), *root]
    if plan.kind.judged and not run.evaluated(plan.columns):
        steps.append(["judge", "train", "--run", str(run.folder), *root])
    if not run.evaluated(plan.columns):
        steps.append(evaluate)
    if kept and not run.curve_scored(len(kept) + 1, plan.columns):
        steps.append([*evaluate, "--checkpoints", "all"])
    if plan.kind.judged and not run.swap_grid.exists():
        steps.append(["swap", str(run.folder), "--out", str(run.swap_grid), *root])
    run.log.parent.mkdir(parents=True, exist_ok=True)
    with open(run.log, "a") as log:
        for args in steps:
            log.write(f"$ OMP_NUM_THREADS={threads} unweave {' '.join(args)}\n")
            log.flush()
            done = subprocess.run(
                _command(*args), stdout=log, stderr=subprocess.STDOUT, env=env,
                preexec_fn=_die_with_parent,
            )  # fmt: skip
            if done.returncode != 0:
                return f"{run.name}: 'unweave {args[0]}' failed (exit {done.returncode}); see {run.log}"
    return None


@dataclass
class StudySetup:
    """A study resolved and checked: its cells, their plans and kept steps, before any runs."""

    cells: list[StudyRun]
    plans: dict[str, StudyPlan]  # data set -> plan
    kept: dict[str, list[int]]  # method -> steps to keep
    curve_points: int = 0
    group_by: tuple[str, ...] = ()

    def done(self, cell: StudyRun) -> bool:
        plan = self.plans[cell.data]
        return (
            cell.evaluated(plan.columns)
            and not (self.curve_points and not cell.curve_scored(self.curve_points, plan.columns))
            and not (plan.kind.judged and not cell.swap_grid.exists())
        )

    def work(self, threads: int) -> Callable[[StudyRun], str | None]:
        """The function an engine calls on each cell."""
        return lambda cell: _run_one(cell, self.plans[cell.data], self.kept.get(cell.method, []),
                                     threads)  # fmt: skip


def setup_study(
    methods: list[str],
    seeds: list[int],
    data: str | list[str],
    out: Path,
    root: str | None = None,
    preset: str = "cpu",
    overrides: list[str] = (),
    metric_preset: str = "reference",
    curve_points: int = 0,
    grid: list[str] = (),
    group_by: list[str] | None = None,
) -> StudySetup:
    """Check every setting (so a typo fails before any run starts) and lay out the cells."""
    data_sets = [data] if isinstance(data, str) else list(data)
    if not methods or not seeds or not data_sets:
        raise UnweaveError("A study needs at least one method, one data set and one seed.")
    axes = StudyGrid(tuple(methods), tuple(data_sets), tuple(seeds), parse_grid(list(grid)))
    plans, kinds = {}, set()
    for name in data_sets:
        kind, columns = _check_settings(methods, name, root, preset, list(overrides), axes.grid)
        plans[name] = StudyPlan(name, root, preset, tuple(overrides), metric_preset, kind, columns)
        kinds.add(kind)
    if len(kinds) > 1:
        raise UnweaveError(
            f"The data sets {', '.join(data_sets)} are of different kinds (ground-truth images "
            "and labelled video); a study's table holds one kind."
        )
    known = ["method", "data", *(key for key, _ in axes.grid)]
    group = tuple(group_by) if group_by else tuple(
        a for a in known if a != "data" or len(data_sets) > 1
    )  # fmt: skip
    unknown = [axis for axis in group if axis not in known]
    if unknown:
        raise UnweaveError(
            f"--group-by {','.join(unknown)} is not an axis of this study; expected some of: "
            f"{', '.join(known)}."
        )
    kept = _kept_steps(methods, data_sets[0], root, preset, list(overrides), curve_points)
    cells = axes.cells(Path(out))
    for cell in cells:  # every folder checked before any cell starts
        if cell.folder.exists():
            cell.claim()
    return StudySetup(cells, plans, kept, curve_points, group)


def run_study(
    methods: list[str],
    seeds: list[int],
    data: str | list[str],
    out: Path,
    jobs: int = 1,
    report_only: bool = False,
    engine: str = "local",
    address: str | None = None,
    gpus: float = 0.0,
    **settings: Any,
) -> dict:
    """Run every cell not done yet on ``engine`` (``local``: ``jobs`` processes at a time;
    ``ray``: tasks on the cluster at ``address``, one CPU and ``gpus`` GPUs each), writing the
    summary as each finishes; returns the summary written to ``study.json``. ``settings``:
    the rest of :func:`setup_study`'s arguments. ``report_only``: aggregate the finished
    cells only."""
    from unweave.engines import ENGINES, Progress

    if jobs < 1:
        raise UnweaveError(f"jobs is {jobs}; expected 1 or more parallel runs.")
    if engine not in ENGINES:
        raise UnweaveError(f"--engine is '{engine}'; expected one of: {', '.join(ENGINES)}.")
    setup = setup_study(methods, seeds, data, out, **settings)
    out = Path(out)
    todo = [cell for cell in setup.cells if not setup.done(cell)]

    # Cells done before this call and those finished since; never one still running.
    finished = {cell.name for cell in setup.cells if cell not in todo}

    def summary() -> dict:
        done = [cell for cell in setup.cells if cell.name in finished]
        return write_summary(done, setup, out, len(setup.cells) - len(done)) if done else {}

    if report_only:
        done = [c for c in setup.cells if c.evaluated(setup.plans[c.data].columns)]
        if not done:
            raise UnweaveError(
                f"No run of this study in {out} has finished yet; run it without --report-only."
            )
        return write_summary(done, setup, out, len(setup.cells) - len(done))
    start = ENGINES[engine](jobs=jobs, address=address, gpus=gpus)
    for cell in todo:
        cell.claim()
    progress = Progress(len(setup.cells), len(setup.cells) - len(todo))
    with tqdm(total=len(setup.cells), desc="study", unit="cell", initial=progress.finished) as bar:
        tqdm.write(start.describe())
        for cell, failure, attempts in start.run(todo, setup.work):
            progress.record(cell, failure, attempts)
            if failure is None:
                finished.add(cell.name)
            bar.update(1)
            bar.set_postfix_str(progress.line(start.running()))
            summary()
    if progress.failures:
        raise UnweaveError(f"{len(progress.failures)} run(s) failed; first: {progress.failures[0]}")
    return summary()


def run_cell(index: int, threads: int | None = None, **study: Any) -> str:
    """Run cell ``index`` (0-based, in the grid's order) of the study ``study`` describes (the
    arguments of :func:`run_study`) in this process's shell: a SLURM array task. Returns the
    cell's name; one sentence on failure."""
    setup = setup_study(**study)
    if not 0 <= index < len(setup.cells):
        raise UnweaveError(
            f"--index is {index}; this study has {len(setup.cells)} cells (0-{len(setup.cells) - 1})."
        )
    cell = setup.cells[index]
    cell.claim()
    from unweave.engines import cores

    failure = None if setup.done(cell) else setup.work(threads or cores())(cell)
    if failure:
        raise UnweaveError(failure)
    return cell.name


def _check_settings(
    methods: list[str], data: str, root: str | None, preset: str, overrides: list[str],
    grid: tuple[tuple[str, tuple[str, ...]], ...] = (),
) -> tuple[StudyKind, dict[str, str]]:  # fmt: skip
    """Resolve every method's config (with each grid value) now, so a typo fails before any
    run starts; the study's kind and table columns (for video, from the data's factors)."""
    from unweave.data.registry import data_modality, load_data
    from unweave.training.config import resolve

    modality = data_modality(data)
    if modality not in KINDS:
        raise UnweaveError(
            f"A study runs on a ground-truth image set (dsprites, shapes3d) or on labelled "
            f"video (sprites, toy-sprites); '{data}' is {modality} data."
        )
    configs = [resolve(method, data, preset, root, overrides) for method in methods]
    for method, (key, values) in product(methods, grid):
        for value in values:
            try:
                resolve(method, data, preset, root, [*overrides, f"{key}={value}"])
            except UnweaveError as error:
                raise UnweaveError(f"--grid {key}={value} for {method}: {error}") from None
    if modality == "images":
        return KINDS[modality], COLUMNS
    spec = configs[0]["data"]
    test = load_data(spec["name"], "test", spec["root"], **spec["options"])
    return KINDS[modality], judged_columns(list(test.static), list(test.dynamic))


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


def group_label(cell: StudyRun, group_by: tuple[str, ...]) -> str:
    """A cell's row in the table: its values on the ``group_by`` axes (the method's alone
    as the bare name; other axes as ``axis=value``)."""
    axes = cell.axes()
    return " ".join(axes[a] if a == "method" else f"{a}={axes[a]}" for a in group_by) or "all"


def aggregate(
    runs: list[StudyRun], columns: dict[str, str], group_by: tuple[str, ...] = ("method",)
) -> dict[str, dict[str, float]]:
    """Per group of cells (their values on ``group_by``): the mean and (sample) std of each
    column over the group's cells, as ``heading`` and ``heading_std``, and of the training
    minutes where every cell stored them (disentanglement_lib's aggregate step)."""
    table: dict[str, dict[str, float]] = {}
    for label in dict.fromkeys(group_label(r, group_by) for r in runs):
        mine = [r for r in runs if group_label(r, group_by) == label]
        scores = [json.loads((r.folder / "eval.json").read_text()) for r in mine]
        values = {heading: [s[key] for s in scores if key in s] for key, heading in columns.items()}
        minutes = [r.minutes() for r in mine]
        if None not in minutes:
            values["minutes"] = minutes
        row = {}
        for heading, numbers in values.items():
            if not numbers:
                continue
            array = np.array(numbers, dtype=float)
            row[heading] = float(array.mean())
            row[f"{heading}_std"] = float(array.std(ddof=1)) if len(array) > 1 else 0.0
        table[label] = row
    return table


def markdown(
    table: dict[str, dict[str, float]], seeds_per_method: dict[str, int], unfinished: int = 0
) -> str:
    """The table: one row per group, ``mean +- std`` over its cells, and their count."""
    headings = list(
        dict.fromkeys(h for row in table.values() for h in row if not h.endswith("_std"))
    )
    head = ["method", *(h.replace("|", "\\|") for h in headings), "seeds"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for method, row in table.items():
        cells = [f"{row[h]:.3f} ± {row[f'{h}_std']:.3f}" if h in row else "-" for h in headings]
        lines.append("| " + " | ".join([method, *cells, str(seeds_per_method[method])]) + " |")
    lines.append("\nMean ± standard deviation over each row's runs.")
    if unfinished:
        lines.append(f"{unfinished} run(s) of the study are not finished and not counted.")
    return "\n".join(lines)


def write_summary(runs: list[StudyRun], setup: StudySetup, out: Path, unfinished: int = 0) -> dict:
    """``study.json``, ``study.md`` and ``study.png`` in ``out`` from the (evaluated) ``runs``;
    ``unfinished`` counts the study's cells left out; with curves, also
    ``curves/<score>.png``, each group's mean over its cells at every scored checkpoint."""
    from unweave.viz.plots import metric_bars_png
    from unweave.viz.swap import _save_atomic

    plan = setup.plans[runs[0].data]
    table = aggregate(runs, plan.columns, setup.group_by)
    counts = {label: 0 for label in table}
    for run in runs:
        counts[group_label(run, setup.group_by)] += 1
    summary = {
        "data": sorted(setup.plans) if len(setup.plans) > 1 else plan.data,
        "preset": plan.preset,
        "metric_preset": plan.metric_preset,
        "seeds": sorted({r.seed for r in runs}),
        "group_by": list(setup.group_by),
        "seeds_per_method": counts,
        "unfinished": unfinished,
        "table": table,
        "runs": {r.name: json.loads((r.folder / "eval.json").read_text()) for r in runs},
    }
    if plan.kind.judged:
        summary["swap_grids"] = {
            r.name: str(r.swap_grid.relative_to(out)) for r in runs if r.swap_grid.exists()
        }
    if setup.curve_points:
        summary["curves"] = write_curves(runs, plan.columns, out / "curves", setup.group_by)
    write_atomic(out / "study.json", json.dumps(summary, indent=1))
    write_atomic(out / "study.md", markdown(table, counts, unfinished) + "\n")
    bars = {
        label: {k: v for k, v in row.items() if not k.startswith("minutes")}
        for label, row in table.items()
    }
    image = metric_bars_png(bars)
    _save_atomic(lambda p: p.write_bytes(image), out / "study.png")
    return summary


def write_curves(
    runs: list[StudyRun], columns: dict[str, str], folder: Path,
    group_by: tuple[str, ...] = ("method",),
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """``folder/<score>.png`` for each column: every group's mean (and std) over its cells at
    each scored checkpoint; returns ``{score: {group: curve}}``."""
    from unweave.viz.curves import curve_figure, mean_curve, read_curve
    from unweave.viz.plots import save_figure

    labels = list(dict.fromkeys(group_label(r, group_by) for r in runs))
    curves: dict[str, dict[str, Any]] = {}
    for key, heading in columns.items():
        by_group = {
            label: mean_curve(
                [read_curve(r.folder, key) for r in runs if group_label(r, group_by) == label]
            )
            for label in labels
        }
        name = "".join(c if c.isalnum() or c in "-_" else "-" for c in heading)
        save_figure(curve_figure(by_group, heading), folder / f"{name}.png")
        curves[heading] = by_group
    return curves
