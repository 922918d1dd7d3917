"""Benchmark: training speed of DBSE on real Sprites, on this machine.

Measures, in one process:

1. ``paper``-size DBSE throughput (clips/s) at batch 128 on pre-loaded tensors;
2. the ratio of a full unweave training step (Lightning loop, uint8 memmap loading,
   on-device conversion and resizing, logging, a checkpoint every epoch) to the bare model
   forward + backward + Adam step on pre-loaded tensors, for the ``cpu`` preset. Bare and
   full are measured alternately, twice each, and the ratio uses the medians.

Writes ``benchmarks/results/training_speed.json`` and prints a table.

    python benchmarks/training_speed.py [--root ../shared/data/sprites-lpc] [--steps 60]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from common import full_seconds_per_step

from unweave.data.base import SequenceData
from unweave.data.sprites import load_sprites
from unweave.models import build_model
from unweave.nn.frames import prepare_frames
from unweave.training.config import resolve

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO.parent / "shared" / "data" / "sprites-lpc"
OUT = REPO / "benchmarks" / "results" / "training_speed.json"


def bare_seconds_per_step(config: dict, frames: torch.Tensor, steps: int) -> float:
    """Seconds per forward + backward + Adam step on pre-loaded float frames, after 2 warm-ups."""
    torch.manual_seed(0)
    model = build_model(config["method"], config["model"]).train()
    optim = torch.optim.Adam(model.parameters(), lr=config["optim"]["lr"])
    batch = config["train"]["batch_size"]
    for step in range(steps + 2):
        if step == 2:
            start = time.perf_counter()
        x = frames[(step * batch) % (len(frames) - batch) :][:batch]
        loss = model.loss(x)["loss"]
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--steps", type=int, default=60, help="steps per full-loop measurement")
    parser.add_argument("--paper-steps", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)

    data = load_sprites(args.root, "train")
    # 1. paper-size throughput at batch 128
    paper = resolve("dbse", "sprites", "paper")
    paper_frames = prepare_frames(torch.from_numpy(np.asarray(data.x[:256])), 64)
    paper_step = bare_seconds_per_step(paper, paper_frames, args.paper_steps)

    # 2. full step / bare step for the cpu preset, alternating
    cpu = resolve("dbse", "sprites", "cpu", overrides=["train.log_every_n_steps=10"])
    batch = cpu["train"]["batch_size"]
    steps_per_epoch = args.steps // 2
    # The first clips as a memmap view (basic slicing loads nothing): 2 epochs, 2 checkpoints.
    n = batch * steps_per_epoch
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
    frames = prepare_frames(torch.from_numpy(np.asarray(subset.x)), cpu["model"]["image_size"])
    bare, full = [], []
    for _ in range(2):
        bare.append(bare_seconds_per_step(cpu, frames, args.steps))
        full.append(full_seconds_per_step(cpu_run, subset))
    ratio = statistics.median(full) / statistics.median(bare)

    result = {
        "paper_batch": paper["train"]["batch_size"],
        "paper_seconds_per_step": round(paper_step, 3),
        "paper_clips_per_second": round(paper["train"]["batch_size"] / paper_step, 2),
        "paper_sprites_epoch_minutes": round(
            9000 / (paper["train"]["batch_size"] / paper_step) / 60, 1
        ),
        "cpu_batch": batch,
        "cpu_bare_seconds_per_step": [round(s, 4) for s in bare],
        "cpu_full_seconds_per_step": [round(s, 4) for s in full],
        "cpu_clips_per_second_full": round(batch / statistics.median(full), 1),
        "cpu_speedup_over_paper_per_clip": round(
            (batch / statistics.median(full)) / (paper["train"]["batch_size"] / paper_step), 1
        ),
        "full_over_bare_ratio": round(ratio, 3),
        "target_ratio": 1.10,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1))
    rows = [
        ("DBSE paper, batch 128: clips/s", result["paper_clips_per_second"]),
        ("DBSE paper: minutes per Sprites epoch", result["paper_sprites_epoch_minutes"]),
        ("DBSE cpu preset (full loop): clips/s", result["cpu_clips_per_second_full"]),
        ("cpu preset speed-up per clip over paper", result["cpu_speedup_over_paper_per_clip"]),
        ("full step / bare step (target <= 1.10)", result["full_over_bare_ratio"]),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"written to {OUT}")


if __name__ == "__main__":
    main()
