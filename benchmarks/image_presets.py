"""Benchmark: does each image method's ``cpu`` preset fit the 20-minute budget on this machine?

For every method and data set, trains the ``cpu`` preset for ``--steps`` optimiser steps
through ``unweave.training.run.train`` (the full Lightning loop, memmap loading, checkpoints),
measures the steady rate after two warm-up steps and the start-up time (data, model, the two
warm-ups), and projects the preset's wall time: ``start-up + (max_steps - 2) / rate``.
FactorVAE counts two optimiser steps per batch, DiD one per critic or generator batch;
``max_steps`` is in the same unit, so the projection holds for both.

Writes ``benchmarks/results/image_presets.json`` and prints a table. Run it on an idle machine.

    python benchmarks/image_presets.py [--data dsprites,shapes3d] [--steps 120]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import torch
from common import StepClock, record

from unweave.models import MODELS
from unweave.training.config import resolve
from unweave.training.run import train

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "image_presets.json"
BUDGET_MINUTES = 20.0


def time_preset(method: str, data: str, steps: int) -> dict:
    """Rate and projected wall time of ``method``'s cpu preset on ``data``."""
    preset = resolve(method, data, "cpu")
    config = resolve(method, data, "cpu", overrides=[f"train.max_steps={steps}"])
    clock = StepClock()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        train(config, Path(folder) / "run", enable_progress_bar=False, extra_callbacks=[clock])
    startup = clock.start - start
    rate = clock.steps / clock.seconds
    max_steps = preset["train"]["max_steps"]
    minutes = (startup + (max_steps - 2) / rate) / 60
    return {
        "max_steps": max_steps,
        "steps_per_second": round(rate, 2),
        "startup_seconds": round(startup, 1),
        "projected_minutes": round(minutes, 1),
        "within_budget": minutes <= BUDGET_MINUTES,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="dsprites,shapes3d")
    parser.add_argument("--methods", default=",".join(MODELS["images"]))
    parser.add_argument("--steps", type=int, default=120, help="steps timed per preset")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    results: dict = {}
    for data in args.data.split(","):
        rows = {m: time_preset(m, data, args.steps) for m in args.methods.split(",")}
        entry = {"methods": rows, "torch_threads": torch.get_num_threads()}
        record(OUT, results, data, entry)
        print(f"\n{data} (cpu presets; budget {BUDGET_MINUTES:.0f} min)")
        print(f"{'method':<12} {'max_steps':>9} {'steps/s':>8} {'start-up s':>10} {'min':>6}")
        for method, row in rows.items():
            print(
                f"{method:<12} {row['max_steps']:>9} {row['steps_per_second']:>8} "
                f"{row['startup_seconds']:>10} {row['projected_minutes']:>6}"
            )
    print(f"written to {OUT}")


if __name__ == "__main__":
    main()
