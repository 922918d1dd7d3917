"""Benchmark: one small study on the local engine (one run at a time, every core) against
Ray (a Ray instance on this machine, one single-CPU task per core), on this machine.

The study: DBSE and SKD x 2 seeds on toy sprites of 16 x 16 (the judge protocol, the
probes and a swap grid per cell). A warm-up cell first trains the toy-sprites judge into a
fresh cache both timed studies share, so neither pays for it. Both studies must give the
table up to the last digits (the cells are seeded; the local run uses every core's thread,
a Ray task one, so sums are reduced in another order). Writes
``benchmarks/results/study_engines.json`` and prints a table.

    python benchmarks/study_engines.py [--epochs 3] [--train-clips 512]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

from common import machine

from unweave.atomic import write_atomic
from unweave.study import run_study

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "study_engines.json"
METHODS = ("dbse", "skd")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-clips", type=int, default=512)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    overrides = [
        "model.image_size=16", "model.base_channels=8", "data.options.size=16",
        f"data.options.n_train={args.train_clips}", "data.options.n_test=256",
        f"train.max_epochs={args.epochs}", "train.batch_size=32",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["UNWEAVE_CACHE"] = str(Path(scratch) / "cache")

        def study(engine: str, out: str, methods=METHODS, seeds=(0, 1)) -> tuple[float, dict]:
            start = time.perf_counter()
            summary = run_study(
                list(methods), list(seeds), "toy-sprites", Path(scratch) / out,
                overrides=overrides, engine=engine,
            )  # fmt: skip
            return time.perf_counter() - start, summary

        warm, _ = study("local", "warm-up", methods=("dbse",), seeds=(9,))
        local, local_summary = study("local", "local")
        ray_s, ray_summary = study("ray", "ray")
    local_figures, ray_figures = _figures(local_summary), _figures(ray_summary)
    largest_gap = max(
        abs(value - ray_figures[group][key])
        for group, row in local_figures.items()
        for key, value in row.items()
    )
    result = {
        "machine": machine(),
        "cells": len(METHODS) * 2,
        "epochs": args.epochs,
        "train_clips": args.train_clips,
        "warm_up_s": warm,
        "local_one_job_s": local,
        "ray_one_task_per_core_s": ray_s,
        "speed_up": local / ray_s,
        "largest_difference": largest_gap,
    }
    write_atomic(OUT, json.dumps(result, indent=1))
    print(markdown(result))
    if largest_gap > 0.05:
        raise SystemExit(f"The engines' tables differ by {largest_gap:.3f}; see {OUT}.")


def _figures(summary: dict) -> dict:
    """The table without the training minutes (wall time differs between engines)."""
    return {
        group: {k: v for k, v in row.items() if not k.startswith("minutes")}
        for group, row in summary["table"].items()
    }


def markdown(result: dict) -> str:
    cpu = result["machine"]
    lines = [
        f"{result['cells']} cells ({result['epochs']} epochs of {result['train_clips']} "
        f"toy clips each) on {cpu['cpu']} ({', '.join(cpu['flags'])}), {cpu['cores']} cores",
        "",
        "| engine | wall s | speed-up | largest difference of a figure |",
        "|---|---|---|---|",
        f"| local, 1 run at a time ({cpu['cores']} threads) | {result['local_one_job_s']:.0f} "
        "| 1.00 | - |",
        f"| ray, {cpu['cores']} single-CPU tasks at a time | {result['ray_one_task_per_core_s']:.0f} | "
        f"{result['speed_up']:.2f} | {result['largest_difference']:.4f} |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
