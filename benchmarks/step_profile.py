"""Benchmark: the training step of each model family, profiled, on this machine.

For each family's ``cpu`` preset (video: DBSE on toy sprites; series: DBSE on synthetic
series; speech: DBSE on synthetic speakers; fragments: V3 on PhoneNums; images: beta-VAE on
dSprites, or random images of its shape when its files are not on hand), in one process:

1. the bare step (forward + backward + Adam on one batch already in memory) with unweave's
   fast paths against the same model run as plain eager PyTorch, the way the reference code
   runs it (:func:`plain_eager`: NCHW activations, the first transposed convolution through
   im2col, the LSTM prior's per-step loop); the two are timed alternately;
2. the share of each step that is convolution, batch norm, LSTM, optimiser, other tensor
   operations and Python overhead (``torch.profiler`` self times; overhead is the wall time
   no operator accounts for);
3. the full Lightning step (``unweave.training.run.train``: loading, logging) against the
   bare fast step: target <= 1.10.

Writes ``benchmarks/results/step_profile.json`` and prints a table.

    python benchmarks/step_profile.py [--steps 20] [--families video,series]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from common import full_seconds_per_step, machine
from torch import nn
from torch.profiler import ProfilerActivity, profile

from unweave.data.ground_truth import GroundTruthImages
from unweave.errors import UnweaveError
from unweave.nn.frames import FrameEncoder, VectorConvTranspose2d
from unweave.nn.priors import LSTMPrior
from unweave.training.config import resolve
from unweave.training.datamodule import SequenceDataModule
from unweave.training.module import build_module

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "step_profile.json"
DATA_ROOT = REPO.parent / "shared" / "data"

#: family -> (method, data set, folder under ../shared/data or None for built-in data)
FAMILIES = {
    "video": ("dbse", "toy-sprites", None),
    "series": ("dbse", "synthetic-series", None),
    "speech": ("dbse", "synthetic-speech", None),
    "fragments": ("v3", "phonenums", None),
    "images": ("beta-vae", "dsprites", "dsprites"),
}

#: share category -> fragments of the profiler's operator names (first match wins)
CATEGORIES = {
    "convolution": ("conv",),
    "batch norm": ("batch_norm",),
    "LSTM": ("lstm", "rnn", "gru"),
}


def plain_eager(model: nn.Module) -> nn.Module:
    """Switch ``model``'s fast paths off: what the same network costs as plain eager code."""
    for layer in model.modules():
        if isinstance(layer, FrameEncoder):
            layer.channels_last = False
        elif isinstance(layer, VectorConvTranspose2d):
            layer.__class__ = nn.ConvTranspose2d
        elif isinstance(layer, LSTMPrior):
            layer.fused = False
    return model


def make_step(module, batch: dict) -> callable:
    """One bare training step of ``module.model`` on ``batch`` (tensors already in memory)."""
    model = module.model.train()
    inputs = model.batch_inputs(batch)
    optimiser = torch.optim.Adam(model.parameters(), lr=module.config["optim"]["lr"])

    def step() -> None:
        loss = model.loss(*inputs)["loss"]
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    return step


def seconds_per_step(step: callable, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def shares(step: callable, steps: int) -> dict[str, float]:
    """Fractions of the wall time of ``steps`` steps: the optimiser's step (all it calls),
    operators by category (self times, outside the optimiser) and the unaccounted rest."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        wall_us = (time.perf_counter() - start) * 1e6
    totals = dict.fromkeys(["optimiser", *CATEGORIES, "other operators"], 0.0)
    for event in prof.events():
        if event.name.startswith("Optimizer.step"):
            totals["optimiser"] += event.cpu_time_total
            continue
        if not event.name.startswith("aten::") or _inside_optimiser(event):
            continue
        name = event.name.lower()
        category = next(
            (c for c, keys in CATEGORIES.items() if any(k in name for k in keys)),
            "other operators",
        )
        totals[category] += event.self_cpu_time_total
    totals["python and loop overhead"] = max(0.0, wall_us - sum(totals.values()))
    return {k: round(v / wall_us, 3) for k, v in totals.items()}


def _inside_optimiser(event) -> bool:
    parent = event.cpu_parent
    while parent is not None:
        if parent.name.startswith("Optimizer.step"):
            return True
        parent = parent.cpu_parent
    return False


def stand_in_images(n: int = 4096) -> GroundTruthImages:
    """Random binary 64x64 images in dSprites' layout: a step costs what a dSprites step does."""
    rng = np.random.default_rng(0)
    x = (rng.random((n, 1, 64, 64)) < 0.1).astype(np.uint8) * 255
    return GroundTruthImages(x, np.arange(n)[:, None], ["index"], (n,), "dsprites")


def profile_family(method: str, data: str, folder: str | None, steps: int) -> dict:
    root = str(DATA_ROOT / folder) if folder else None
    config = resolve(method, data, "cpu", root=root)
    try:
        datamodule = SequenceDataModule(config)
        datamodule.setup("fit")
        source = data
    except UnweaveError:  # dSprites' files are not on hand: the same shapes, random pixels
        datamodule = SequenceDataModule(config, stand_in_images())
        source = f"random images shaped as {data}"
    torch.manual_seed(0)
    fast_module = build_module(config)
    batch = next(iter(datamodule.train_dataloader(fast_module.model)))
    torch.manual_seed(0)
    plain_module = build_module(config)
    plain_eager(plain_module.model)
    fast, plain = make_step(fast_module, batch), make_step(plain_module, batch)
    for step in (fast, plain):
        step(), step()  # warm-up
    fast_s, plain_s = [], []
    for _ in range(3):  # alternate, so both see the same machine
        fast_s.append(seconds_per_step(fast, steps))
        plain_s.append(seconds_per_step(plain, steps))
    bare = statistics.median(fast_s)
    limited = {**config, "train": {**config["train"], "max_steps": steps * 2 + 2}}
    limited["train"]["max_epochs"] = 1000
    full = full_seconds_per_step(limited, datamodule.train_data)
    parameters = sum(p.numel() for p in fast_module.model.parameters())
    return {
        "method": method,
        "data": source,
        "parameters": parameters,
        "batch_size": config["train"]["batch_size"],
        "fast_ms": round(bare * 1000, 1),
        "plain_eager_ms": round(statistics.median(plain_s) * 1000, 1),
        "fast_over_plain_speedup": round(statistics.median(plain_s) / bare, 2),
        "shares_plain": shares(plain, max(3, steps // 4)),
        "shares_fast": shares(fast, max(3, steps // 4)),
        "full_ms": round(full * 1000, 1),
        "full_over_bare": round(full / bare, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="steps per timed block")
    parser.add_argument("--families", default=",".join(FAMILIES))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    results = {"machine": machine(), "families": {}}
    for family in args.families.split(","):
        method, data, folder = FAMILIES[family]
        results["families"][family] = profile_family(method, data, folder, args.steps)
        print(family, json.dumps(results["families"][family]), flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1))
    header = ("family", "model", "fast ms", "plain ms", "speed-up", "full/bare")
    print(" | ".join(header))
    for family, row in results["families"].items():
        print(
            f"{family} | {row['method']} on {row['data']} | {row['fast_ms']} | "
            f"{row['plain_eager_ms']} | {row['fast_over_plain_speedup']}x | "
            f"{row['full_over_bare']}"
        )
    print(f"machine: {results['machine']}\nwritten to {OUT}")


if __name__ == "__main__":
    main()
