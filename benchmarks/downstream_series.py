"""Benchmark: the paper's downstream protocols on time series, with both baselines.

For each data set, trains DBSE in both variants (``cpu``: the paper's text; ``cpu-reference``:
the authors' code) and the same-size non-disentangled ``seqvae`` (or reuses finished runs in
``--runs``), and SPYL on DBSE's series model, then runs every downstream task of that data
set on five representations: each DBSE's ``[z, f]``, the ``seqvae`` codes, SPYL's ``[z, f]``
and the raw features. Times each method's training plus its downstream protocol (the issue's budget is
30 minutes per ``cpu`` run on 2 cores). Writes ``benchmarks/results/downstream_series.json``
and prints a Markdown table.

    python benchmarks/downstream_series.py [--data etth1 physionet air-quality synthetic-series]
        [--root ../shared/data] [--runs runs] [--representations "dbse (code)"]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

from common import ensure_run, record

import unweave
from unweave.data.registry import load_data
from unweave.downstream import (
    TASKS,
    model_representation,
    raw_representation,
    run_task,
    tasks_for,
)

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "downstream_series.json"
FOLDERS = {"etth1": "ett", "physionet": "physionet2012", "air-quality": "air-quality"}
WINDOW = {"physionet": 4}
#: Model representations: label -> (method, preset). DBSE in the paper's text (dynamic
#: input = features minus the static window's) and in the reference code (raw features).
MODELS = {
    "dbse": ("dbse", "cpu"),
    "dbse (code)": ("dbse", "cpu-reference"),
    "seqvae": ("seqvae", "cpu"),
    "spyl": ("spyl", "cpu"),
}
COLUMNS = {
    "dbse": "DBSE (paper text)",
    "dbse (code)": "DBSE (reference code)",
    "seqvae": "seqvae (baseline)",
    "spyl": "SPYL (DBSE's series model)",
    "raw features": "raw features",
}
HEADLINE = {"mae": "MAE (low)", "auroc": "AUROC", "auprc": "AUPRC", "accuracy": "accuracy"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", nargs="+", default=["synthetic-series", "etth1", "physionet", "air-quality"]
    )
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--runs", type=Path, default=REPO / "runs")
    parser.add_argument(
        "--representations",
        nargs="+",
        default=list(COLUMNS),
        choices=list(COLUMNS),
        help="which representations to (re)compute; the others' figures in the JSON are kept",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    for data in args.data:
        root = args.root / FOLDERS[data] if data in FOLDERS else None
        train_data = load_data(data, "train", root)
        test = load_data(data, "test", root)
        entry = results.get(data, {"tasks": {}})  # other representations' figures are kept
        entry.update(n_train=len(train_data), n_test=len(test))
        representations = {}
        for label in args.representations:
            if label == "raw features":
                representations[label] = (raw_representation(WINDOW.get(data, 24)), None)
                continue
            method, preset = MODELS[label]
            run, seconds = ensure_run(method, data, root, args.runs, "series", preset)
            representations[label] = (model_representation(unweave.load(run).model), seconds)
        for label, (represent, train_seconds) in representations.items():
            start = time.perf_counter()
            for task in tasks_for(data):
                summary = run_task(TASKS[task], represent, train_data, test)
                entry["tasks"].setdefault(task, {})[label] = summary
            downstream_seconds = time.perf_counter() - start
            entry.setdefault("minutes", {})[label] = {
                "train": None if train_seconds is None else train_seconds / 60,
                "downstream": downstream_seconds / 60,
            }
        record(OUT, results, data, entry)
    print(markdown(results))


def markdown(results: dict) -> str:
    """One row per (data set, task, metric); a column per representation ("-" where absent)."""
    header = "| data | task | metric | " + " | ".join(COLUMNS.values()) + " |"
    lines = [header, "|---" * (3 + len(COLUMNS)) + "|"]
    for data, entry in results.items():
        for task, by_rep in entry["tasks"].items():
            for metric, name in HEADLINE.items():
                if metric not in by_rep["raw features"]:
                    continue
                cells = [
                    f"{by_rep[c][metric]['mean']:.3f} ± {by_rep[c][metric]['std']:.3f}"
                    if c in by_rep
                    else "-"
                    for c in COLUMNS
                ]
                lines.append(f"| {data} | {task} | {name} | " + " | ".join(cells) + " |")
    lines += ["", "| data | representation | train min | downstream min |", "|---|---|---|---|"]
    for data, entry in results.items():
        for label, minutes in entry["minutes"].items():
            train_min = "-" if minutes["train"] is None else f"{minutes['train']:.1f}"
            lines.append(f"| {data} | {label} | {train_min} | {minutes['downstream']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
