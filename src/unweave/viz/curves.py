"""Budget curves: one figure of a run's scored checkpoints (``RUN/evals/step-N.json``, written
by ``unweave evaluate --checkpoints``) against training steps and minutes, one line per run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from unweave.errors import UnweaveError

#: A curve's points: ``{"step", "minutes" (None: not timed), "value", "std" (None: one draw)}``.
Curve = list[dict[str, Any]]


def scored_checkpoints(run: Path) -> list[dict[str, Any]]:
    """Every ``RUN/evals/step-N.json``, by step (none yet: an empty list)."""
    rows = []
    for path in (Path(run) / "evals").glob("step-*.json"):
        try:
            row = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise UnweaveError(
                f"{path} is not valid JSON; expected the figures 'unweave evaluate "
                "--checkpoints' wrote (delete it and evaluate that checkpoint again)."
            ) from None
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            raise UnweaveError(f"{path} has no integer 'step'; expected a checkpoint's figures.")
        rows.append(row)
    return sorted(rows, key=lambda row: row["step"])


def read_evaluations(run: Path) -> list[dict[str, Any]]:
    """:func:`scored_checkpoints`, or one sentence when the run is missing or has none."""
    run = Path(run)
    if not run.is_dir():
        raise UnweaveError(f"Run directory {run} does not exist.")
    rows = scored_checkpoints(run)
    if not rows:
        raise UnweaveError(
            f"Run {run} has no scored checkpoints ({run / 'evals'} holds no step-N.json); run "
            f"'unweave evaluate {run} --checkpoints all' first."
        )
    return rows


def read_curve(run: Path, metric: str) -> Curve:
    """The points of ``metric`` over the scored checkpoints of ``run``."""
    rows = read_evaluations(run)
    points = [
        {
            "step": row["step"],
            "minutes": None if row.get("elapsed_s") is None else row["elapsed_s"] / 60,
            "value": float(row[metric]),
            "std": row.get(f"{metric}_std"),
        }
        for row in rows
        if isinstance(row.get(metric), (int, float))
    ]
    if not points:
        names = sorted({k for row in rows for k in row if k not in ("step", "elapsed_s")})
        shown = ", ".join(n for n in names if not n.endswith("_std"))
        raise UnweaveError(
            f"Metric '{metric}' is not among the scored checkpoints of {run}; available: {shown}."
        )
    return points


def mean_curve(curves: list[Curve]) -> Curve:
    """The mean of several runs' curves (seeds of one method) at the steps all of them
    scored: its ``std`` is the spread over the runs (0 for one run), its minutes the mean."""
    steps = set.intersection(*({p["step"] for p in curve} for curve in curves))
    points = []
    for step in sorted(steps):
        at = [next(p for p in curve if p["step"] == step) for curve in curves]
        values = np.array([p["value"] for p in at])
        minutes = [p["minutes"] for p in at]
        points.append({
            "step": step,
            "minutes": None if None in minutes else float(np.mean(minutes)),
            "value": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
        })  # fmt: skip
    return points


def curve_figure(
    curves: dict[str, Curve], metric: str, goals: dict[str, float] | None = None
) -> Figure:
    """Two panels, ``metric`` against steps and against minutes of training; one line per
    run (a band of +- one std where the figure has one; a dashed line at ``goals[name]``)."""
    figure = Figure(figsize=(10, 4), layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    for axis, x_key, label in zip(
        axes, ("step", "minutes"), ("training steps", "minutes of training"), strict=True
    ):
        for name, points in curves.items():
            shown = [p for p in points if p[x_key] is not None]
            if not shown:
                continue
            x = [p[x_key] for p in shown]
            y = [p["value"] for p in shown]
            (line,) = axis.plot(x, y, marker="o", label=name)
            if all(p["std"] is not None for p in shown):
                low = [p["value"] - p["std"] for p in shown]
                high = [p["value"] + p["std"] for p in shown]
                axis.fill_between(x, low, high, color=line.get_color(), alpha=0.2)
            if goals and name in goals:
                axis.axhline(goals[name], color=line.get_color(), linestyle="--", linewidth=1)
        xs = [p[x_key] for points in curves.values() for p in points if p[x_key] is not None]
        if xs and min(xs) > 0 and max(xs) / min(xs) > 20:  # checkpoints spread over decades
            axis.set_xscale("log")
            axis.xaxis.set_minor_formatter(NullFormatter())  # labels at the decades only
        axis.set_xlabel(label)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel(metric)
    axes[0].legend(fontsize="small")
    return figure
