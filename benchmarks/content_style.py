"""Benchmark: V3 and Two-Step on coloured digits and instrument notes (issue 6's table).

For each data set and method, trains the ``cpu`` preset (or reuses a finished run in
``--runs``; an interrupted one resumes), then evaluates it as ``unweave evaluate`` does:
kNN retrieval PR-AUCs, codebook purity (V3), leakage probes and zero- / few-shot
classification of held-out styles; and writes the swap grid (and, for notes, the swapped
notes as WAVs). Times training against the issue's 20-minute budget per ``cpu`` run on 2
cores. Methods can run as separate processes (``--methods v3`` beside ``--methods
two-step``, each with ``OMP_NUM_THREADS=1``): each merges its own rows into the JSON.
Writes ``benchmarks/results/content_style.json`` and prints a Markdown table.

    python benchmarks/content_style.py [--data coloured-digits notes] [--root ../shared/data]
        [--runs runs] [--methods v3 two-step]
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from common import benchmark_methods

from unweave.metrics.fragments import content_style_evaluation
from unweave.training.run import load_run_data
from unweave.viz.fragments import save_fragment_swaps

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "content_style.json"
FOLDERS = {"coloured-digits": "mnist", "sprites-fragments": "sprites-lpc"}
COLUMNS = {
    "retrieval/content_code->content": "content code -> content (high)",
    "retrieval/style_code->style": "style code -> style (high)",
    "retrieval/style_code->content": "style code -> content (low)",
    "retrieval/content_code->style": "content code -> style (low)",
    "codebook/purity": "codebook purity",
    "probe/content from style code": "probe: content from style code (low)",
    "probe/style from content code": "probe: style from content code (low)",
    "ood/zero_shot": "OOD zero-shot content",
    "ood/5_shot": "OOD 5-shot style",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["coloured-digits", "notes"])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--runs", type=Path, default=REPO / "runs")
    parser.add_argument("--methods", nargs="+", default=["v3", "two-step"])
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    def evaluate(model, run: Path, root: Path | None) -> dict:
        splits = {split: load_run_data(run, split, root) for split in ("train", "test", "ood")}
        figure = run / "codebook.png"
        report = content_style_evaluation(
            model, splits["train"], splits["test"], splits["ood"], figure=figure
        )
        save_fragment_swaps(model, splits["test"], run / "swap.png")
        return report

    results = benchmark_methods(
        args.data, args.methods, args.root, args.runs, "fragments", FOLDERS, evaluate, OUT
    )
    print(markdown(results))


def markdown(results: dict) -> str:
    """One row per data set and method; chance levels in the last columns."""
    head = ["data", "method", *COLUMNS.values(), "chance content / style", "train min"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for data, entry in results.items():
        for method, r in entry["methods"].items():
            cells = [f"{r[k]:.3f}" if k in r else "-" for k in COLUMNS]
            chance = f"{r['retrieval/chance:content']:.3f} / {r['retrieval/chance:style']:.3f}"
            minutes = "-" if r["train_minutes"] is None else f"{r['train_minutes']:.1f}"
            lines.append("| " + " | ".join([data, method, *cells, chance, minutes]) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
