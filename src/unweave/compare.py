"""Side-by-side metrics of several runs, from their ``eval.json``: a text table and a bar chart."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from unweave.errors import UnweaveError


def read_eval(run_dir: Path) -> dict[str, Any]:
    """The flat metrics of ``run_dir/eval.json``, with one-sentence errors."""
    run_dir = Path(run_dir)
    path = run_dir / "eval.json"
    if not run_dir.is_dir():
        raise UnweaveError(f"Run directory {run_dir} does not exist.")
    if not path.is_file():
        raise UnweaveError(f"{run_dir} has no eval.json; run unweave evaluate {run_dir} first.")
    try:
        figures = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UnweaveError(f"{path} is not valid JSON ({err.msg} at line {err.lineno}).") from None
    if not isinstance(figures, dict):
        raise UnweaveError(
            f"{path} holds a {type(figures).__name__}; expected an object of metric values."
        )
    return figures


def run_names(runs: list[Path]) -> list[str]:
    """Column names: each run's folder name, with parent folders added until they are unique."""
    paths = [Path(r).resolve() for r in runs]
    for i, path in enumerate(paths):
        if path in paths[:i]:
            raise UnweaveError(f"Run {runs[i]} is given twice; name each run once.")
    depth = 1
    while True:
        names = [str(Path(*p.parts[-depth:])) for p in paths]
        if len(set(names)) == len(names):
            return names
        depth += 1


def _cell(figures: dict[str, Any], key: str) -> str:
    if key not in figures:
        return "-"
    value, std = figures[key], figures.get(f"{key}_std")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    text = f"{value:.4f}" if math.isfinite(value) else str(value)
    if isinstance(std, (int, float)) and not isinstance(std, bool):
        text += f" +- {std:.4f}"
    return text


def format_table(table: dict[str, dict[str, Any]]) -> str:
    """Plain-text table: one row per metric (``_std`` keys fold into +-), one column per run."""
    metrics: list[str] = []
    for figures in table.values():
        metrics += [k for k in figures if not k.endswith("_std") and k not in metrics]
    header = ["metric", *table]
    rows = [[key, *(_cell(figures, key) for figures in table.values())] for key in metrics]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def compare_runs(runs: list[Path], out_png: Path | None = None) -> str:
    """A text table of the ``eval.json`` metrics of ``runs`` (rows: metrics, columns: runs).

    A missing metric shows as ``-``, a metric with a ``_std`` twin as ``value +- std``. With
    ``out_png`` a grouped bar chart is also written there (atomically).
    """
    runs = [Path(r) for r in runs]
    if len(runs) < 2:
        raise UnweaveError(f"Comparing needs at least 2 runs; got {len(runs)}.")
    table = dict(zip(run_names(runs), (read_eval(r) for r in runs), strict=True))
    text = format_table(table)
    if out_png is not None:
        from unweave.viz.plots import metric_bars_png

        data = metric_bars_png(table)
        out_png = Path(out_png)
        out_png.parent.mkdir(parents=True, exist_ok=True)
        tmp = out_png.with_name(f".{out_png.name}.tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, out_png)
        finally:
            tmp.unlink(missing_ok=True)
    return text
