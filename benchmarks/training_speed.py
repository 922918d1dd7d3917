"""Benchmark: training speed of DBSE on real Sprites, on this machine.

Measures, in one process (each comparison timed alternately, medians of the blocks):

1. the ``paper``-size DBSE step (batch 32 of 8 x 64 x 64 frames) with unweave's fastest
   fp32 path against the same model run as plain eager PyTorch (the reference code's way:
   ``step_profile.plain_eager``), and with ``bf16`` autocast (what ``trainer.precision:
   bf16-mixed`` does on a CPU): clips/s and minutes per Sprites epoch (9,000 clips);
2. mixed precision on the ``cpu`` preset: the loss curve of 40 steps in bf16 autocast
   against fp32 from the same weights and batches, and the speed of each;
3. the full unweave training step (Lightning loop, uint8 memmap loading, on-device
   conversion and resizing, logging, a checkpoint every epoch) against the bare model
   forward + backward + Adam step, for the ``cpu`` preset.

Writes ``benchmarks/results/training_speed.json`` and prints a table.

    python benchmarks/training_speed.py [--root ../shared/data/sprites-lpc] [--steps 60]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from common import full_seconds_per_step, machine
from step_profile import plain_eager

from unweave.data.base import SequenceData
from unweave.data.sprites import load_sprites
from unweave.models import build_model
from unweave.nn.frames import prepare_frames
from unweave.training.config import resolve

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO.parent / "shared" / "data" / "sprites-lpc"
OUT = REPO / "benchmarks" / "results" / "training_speed.json"
SPRITES_EPOCH = 9000  # training clips


class Trainee:
    """A model, its Adam and a stream of batches: ``step()`` trains on the next batch and
    returns its loss. ``plain``: the reference code's eager path; ``bf16``: autocast."""

    def __init__(
        self, config: dict, frames: torch.Tensor, plain: bool = False, bf16: bool = False
    ) -> None:
        torch.manual_seed(0)
        self.model = build_model(config["method"], config["model"]).train()
        if plain:
            plain_eager(self.model)
        self.optim = torch.optim.Adam(self.model.parameters(), lr=config["optim"]["lr"])
        self.frames, self.batch, self.bf16, self.index = (
            frames,
            config["train"]["batch_size"],
            bf16,
            0,
        )

    def step(self) -> float:
        start = (self.index * self.batch) % (len(self.frames) - self.batch)
        self.index += 1
        x = self.frames[start : start + self.batch]
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if self.bf16 else None
        with autocast or contextlib.nullcontext():
            loss = self.model.loss(x)["loss"]
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.step()
        return float(loss.detach())

    def seconds_per_step(self, steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        return (time.perf_counter() - start) / steps


def alternate(trainees: dict[str, Trainee], steps: int, rounds: int) -> dict[str, float]:
    """Median seconds per step of each trainee, timed in alternating blocks after 2 warm-ups."""
    for trainee in trainees.values():
        trainee.step(), trainee.step()
    times = {name: [] for name in trainees}
    for _ in range(rounds):
        for name, trainee in trainees.items():
            times[name].append(trainee.seconds_per_step(steps))
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--steps", type=int, default=60, help="steps per full-loop measurement")
    parser.add_argument("--paper-steps", type=int, default=2, help="steps per paper-size block")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    data = load_sprites(args.root, "train")
    result: dict = {"machine": machine()}

    # 1. paper size, batch 32: plain eager, fast fp32, fast bf16 autocast
    paper = resolve("dbse", "sprites", "paper", overrides=["train.batch_size=32"])
    frames = prepare_frames(torch.from_numpy(np.asarray(data.x[:256])), 64)
    variants = {
        "plain eager fp32": Trainee(paper, frames, plain=True),
        "unweave fp32": Trainee(paper, frames),
        "unweave bf16 autocast": Trainee(paper, frames, bf16=True),
    }
    seconds = alternate(variants, args.paper_steps, rounds=3)
    result["paper"] = {
        "batch": 32,
        "parameters": sum(p.numel() for p in variants["unweave fp32"].model.parameters()),
        **{
            name: {
                "seconds_per_step": round(s, 3),
                "clips_per_second": round(32 / s, 2),
                "minutes_per_sprites_epoch": round(SPRITES_EPOCH / (32 / s) / 60, 1),
            }
            for name, s in seconds.items()
        },
        "fp32_speedup_over_plain": round(seconds["plain eager fp32"] / seconds["unweave fp32"], 2),
        "target_speedup": 1.5,
    }

    # 2. mixed precision on the cpu preset: loss curves and speed
    cpu = resolve("dbse", "sprites", "cpu")
    cpu_frames = prepare_frames(torch.from_numpy(np.asarray(data.x[:2048])), 32)
    fp32, bf16 = Trainee(cpu, cpu_frames), Trainee(cpu, cpu_frames, bf16=True)
    curves = {"fp32": [fp32.step() for _ in range(40)], "bf16": [bf16.step() for _ in range(40)]}
    gap = [abs(b - f) / f for f, b in zip(curves["fp32"], curves["bf16"], strict=True)]
    speed = alternate({"fp32": fp32, "bf16": bf16}, 10, rounds=3)
    result["mixed_precision"] = {
        "loss_curves": {k: [round(v, 1) for v in c] for k, c in curves.items()},
        "max_relative_loss_gap_last_10_steps": round(max(gap[-10:]), 4),
        "bf16_speedup_over_fp32": round(speed["fp32"] / speed["bf16"], 2),
    }

    # 3. full step / bare step for the cpu preset, alternating
    batch = cpu["train"]["batch_size"]
    n = batch * (args.steps // 2)
    # The first clips as a memmap view (basic slicing loads nothing): 2 epochs, 2 checkpoints.
    subset = SequenceData(
        x=data.x[:n],
        static={k: v[:n] for k, v in data.static.items()},
        dynamic={k: v[:n] for k, v in data.dynamic.items()},
        factor_sizes=data.factor_sizes,
        name=data.name,
        split=data.split,
    )
    assert isinstance(subset.x, np.memmap)
    cpu_run = resolve(
        "dbse", "sprites", "cpu", overrides=["train.max_epochs=2", "train.log_every_n_steps=10"]
    )
    bare_frames = prepare_frames(torch.from_numpy(np.asarray(subset.x)), 32)
    bare, full = [], []
    for _ in range(2):
        bare.append(Trainee(cpu, bare_frames).seconds_per_step(args.steps))
        full.append(full_seconds_per_step(cpu_run, subset))
    result["cpu"] = {
        "batch": batch,
        "bare_seconds_per_step": [round(s, 4) for s in bare],
        "full_seconds_per_step": [round(s, 4) for s in full],
        "clips_per_second_full": round(batch / statistics.median(full), 1),
        "full_over_bare_ratio": round(statistics.median(full) / statistics.median(bare), 3),
        "target_ratio": 1.10,
    }
    result["date"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1))

    rows = [
        (f"paper, batch 32, {k}: clips/s", v["clips_per_second"])
        for k, v in result["paper"].items()
        if isinstance(v, dict)
    ]
    rows += [
        (
            "paper: unweave fp32 over plain eager (target >= 1.5)",
            result["paper"]["fp32_speedup_over_plain"],
        ),
        (
            "cpu preset: bf16 autocast over fp32",
            result["mixed_precision"]["bf16_speedup_over_fp32"],
        ),
        (
            "cpu preset: bf16 vs fp32 loss gap, last 10 steps",
            result["mixed_precision"]["max_relative_loss_gap_last_10_steps"],
        ),
        ("cpu preset (full loop): clips/s", result["cpu"]["clips_per_second_full"]),
        ("full step / bare step (target <= 1.10)", result["cpu"]["full_over_bare_ratio"]),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"machine: {result['machine']}\nwritten to {OUT}")


if __name__ == "__main__":
    main()
