"""Benchmark: one small study on the local engine (one run at a time, every core) against
Ray (a Ray instance on this machine, one single-CPU task per core), on this machine.

The study: DBSE and SKD x 2 seeds on toy sprites of 16 x 16 (the judge protocol, the
probes and a swap grid per cell). A warm-up cell first trains the toy-sprites judge into a
fresh cache the timed studies share, so none pays for it. Also timed: the local engine with
one single-thread run per core, whose table Ray's must equal (the cells are seeded and run
with one thread each); one run with every core's threads reduces its sums in another order,
so its figures differ a little. Writes
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
from unweave.engines import cores
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

        def study(out: str, methods=METHODS, seeds=(0, 1), **engine) -> tuple[float, dict]:
            start = time.perf_counter()
            summary = run_study(
                list(methods), list(seeds), "toy-sprites", Path(scratch) / out,
                overrides=overrides, **engine,
            )  # fmt: skip
            return time.perf_counter() - start, summary

        warm, _ = study("warm-up", methods=("dbse",), seeds=(9,))
        local, local_summary = study("local")
        jobs, jobs_summary = study("local-jobs", jobs=cores())
        ray_s, ray_summary = study("ray", engine="ray")
    same = _figures(jobs_summary) == _figures(ray_summary)
    result = {
        "machine": machine(),
        "cells": len(METHODS) * 2,
        "epochs": args.epochs,
        "train_clips": args.train_clips,
        "warm_up_s": warm,
        "local_one_job_s": local,
        "local_one_job_per_core_s": jobs,
        "ray_one_task_per_core_s": ray_s,
        "speed_up_local_jobs": local / jobs,
        "speed_up_ray": local / ray_s,
        "ray_equals_local_jobs": same,
        "largest_difference_one_job": _largest_difference(local_summary, ray_summary),
    }
    write_atomic(OUT, json.dumps(result, indent=1))
    print(markdown(result))
    if not same:
        raise SystemExit(f"Ray and local jobs of one thread gave different tables; see {OUT}.")


def _figures(summary: dict) -> dict:
    """The table without the training minutes (wall time differs between engines)."""
    return {
        group: {k: v for k, v in row.items() if not k.startswith("minutes")}
        for group, row in summary["table"].items()
    }


def _largest_difference(one: dict, other: dict) -> float:
    """The largest gap between a figure of two studies' tables."""
    first, second = _figures(one), _figures(other)
    return max(abs(v - second[g][k]) for g, row in first.items() for k, v in row.items())


def markdown(result: dict) -> str:
    cpu = result["machine"]
    lines = [
        f"{result['cells']} cells ({result['epochs']} epochs of {result['train_clips']} "
        f"toy clips each) on {cpu['cpu']} ({', '.join(cpu['flags'])}), {cpu['cores']} cores",
        "",
        "| engine | wall s | speed-up | table |",
        "|---|---|---|---|",
        f"| local, 1 run at a time ({cpu['cores']} threads) | {result['local_one_job_s']:.0f} "
        f"| 1.00 | figures within {result['largest_difference_one_job']:.3f} of the others |",
        f"| local, {cpu['cores']} runs at a time (1 thread each) | "
        f"{result['local_one_job_per_core_s']:.0f} | {result['speed_up_local_jobs']:.2f} | - |",
        f"| ray, {cpu['cores']} single-CPU tasks at a time | {result['ray_one_task_per_core_s']:.0f} | "
        f"{result['speed_up_ray']:.2f} | "
        f"{'equal to' if result['ray_equals_local_jobs'] else 'DIFFERS from'} the row above |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
