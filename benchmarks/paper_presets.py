"""Benchmark: what each ``paper`` preset costs on this machine, so a GPU user knows what to
expect and a CPU user knows what not to start.

For every preset file (or the ones named), the ``paper`` entry trains a few steps through the
whole Lightning loop (``unweave.training.run.train``: loading, the model's own optimisers,
logging) on the real training split, timed from the third step, and projects the time of an
epoch (steps per epoch from the data module at the paper's batch size) and of the paper's
whole schedule (``max_epochs``, or ``max_steps`` where the preset counts steps). Data sets
this machine lacks (your own clips or CSV, TIMIT) are listed as skipped. Writes
``benchmarks/results/paper_presets.json`` and prints a Markdown table for
``docs/performance.md``.

    python benchmarks/paper_presets.py [PRESET ...] [--steps 5] [--root ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import machine, record, timed_run

from unweave.data.registry import load_data
from unweave.errors import UnweaveError
from unweave.training.config import available_presets, merge, resolve, split_preset_name
from unweave.training.datamodule import SequenceDataModule
from unweave.training.module import build_module
from unweave.training.run import with_settings_from_data

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "paper_presets.json"
#: data set -> its folder under --root (the others need no files or are not on this machine)
FOLDERS = {
    "sprites": "sprites-lpc", "sprites-fragments": "sprites-lpc", "etth1": "ett",
    "etth2": "ett", "physionet": "physionet2012", "air-quality": "air-quality",
    "fsdd": "fsdd", "fsdd-strings": "fsdd", "coloured-digits": "mnist",
}  # fmt: skip
NOT_HERE = {"frames", "series-csv", "timit"}  # the user's own files, or LDC-licensed


def measure(name: str, steps: int, root: Path) -> dict:
    """Seconds per step, steps per epoch and the projected schedule of ``name``'s paper preset."""
    method, data = split_preset_name(name)
    folder = root / FOLDERS[data] if data in FOLDERS else None
    config = resolve(method, data, "paper", root=str(folder) if folder else None)
    train_data = load_data(data, "train", folder, **config["data"]["options"])
    config = with_settings_from_data(config, train_data)
    module = build_module(config)
    prepare = getattr(module.model, "prepare_for_data", None)
    if prepare is not None:
        prepare(train_data)
    per_epoch = len(SequenceDataModule(config, train_data).train_dataloader(module.model))
    short = merge(config, {"train": {"max_steps": steps + 2, "max_epochs": 10**6}})
    clock = timed_run(short, train_data)
    seconds, steps_per_batch = clock.seconds / clock.batches, clock.steps / clock.batches
    schedule = config["train"]
    # max_steps counts optimiser steps, which a model with its own loop takes several per batch
    total_batches = round(
        schedule["max_steps"] / steps_per_batch
        if schedule["max_steps"] > 0
        else schedule["max_epochs"] * per_epoch
    )
    return {
        "method": method,
        "data": data,
        "batch_size": schedule["batch_size"],
        "parameters": sum(p.numel() for p in module.model.parameters()),
        "seconds_per_batch": seconds,
        "optimiser_steps_per_batch": steps_per_batch,
        "batches_per_epoch": per_epoch,
        "hours_per_epoch": seconds * per_epoch / 3600,
        "schedule_batches": total_batches,
        "schedule_days": seconds * total_batches / 86400,
        "machine": machine(),
    }


def table(results: dict) -> str:
    """A Markdown table, one row per preset."""
    lines = [
        "| preset | parameters | batch | s / batch | batches / epoch | h / epoch | schedule (batches) | schedule (days) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        if "skipped" in r:
            lines.append(f"| {name} | {r['skipped']} | | | | | | |")
            continue
        lines.append(
            f"| {name} | {r['parameters']:,} | {r['batch_size']} | {r['seconds_per_batch']:.2f} "
            f"| {r['batches_per_epoch']:,} | {r['hours_per_epoch']:.2f} | {r['schedule_batches']:,} "
            f"| {r['schedule_days']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*", help="preset files (default: all)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per preset")
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    names = args.presets or available_presets()
    for name in names:
        if split_preset_name(name)[1] in NOT_HERE:
            record(OUT, results, name, {"skipped": "its data is not on this machine"})
            continue
        start = time.perf_counter()
        try:
            entry = measure(name, args.steps, args.root)
        except UnweaveError as err:  # e.g. a data folder missing under --root
            entry = {"skipped": str(err)}
        entry["benchmark_minutes"] = (time.perf_counter() - start) / 60
        record(OUT, results, name, entry)
        print(f"{name}: {entry.get('seconds_per_batch', entry.get('skipped'))}", flush=True)
    print(table({n: results[n] for n in names}))


if __name__ == "__main__":
    main()
