"""Benchmark: the sequential video methods at toy size, probed, on this machine.

Each method trains on 600 toy sprites of 16x16 (f 16, z 8, batch 32, one thread) for the
given epochs, its ``cpu`` preset otherwise (SPYL: 8 negatives, contrastive from epoch 1 or 2,
as ``tests/models/test_spyl.py``); linear probes then read every factor from the static and
the dynamic code of 200 test sprites. The figures ``docs/methods.md`` quotes for C-DSVAE,
SPYL and DSVAE at toy size come from here.

Writes ``benchmarks/results/toy_sequential.json`` and prints a table.

    python benchmarks/toy_sequential.py [--runs c-dsvae:12,dsvae:12,spyl:12,spyl:30]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import warnings
from pathlib import Path

import torch
from common import machine, record

from unweave.data.registry import load_data
from unweave.export import load
from unweave.metrics.probes import probe_report
from unweave.training.config import resolve
from unweave.training.run import train

OUT = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "toy_sequential.json"
TINY = {"image_size": 16, "base_channels": 8, "g_dim": 32, "f_dim": 16, "z_dim": 8,
        "rnn_size": 16, "hidden_dim": 16}  # fmt: skip
OPTIONS = {"size": 16, "n_train": 600, "n_test": 200}
#: A method's tiny settings where they are not TINY (the tests' choices): SKD's latent of 16
#: with 3 static units (the reference's 7 of 40, scaled).
SIZES = {
    "spyl": {**TINY, "negatives": 8},
    "skd": {"image_size": 16, "base_channels": 8, "k_dim": 16, "hidden_dim": 16, "static_size": 3},
}


def probe(method: str, epochs: int) -> dict[str, float]:
    """Train ``method`` for ``epochs`` at toy size; its probe report."""
    model = dict(SIZES.get(method, TINY))
    if method == "spyl":
        model["warmup_epochs"] = max(1, round(0.05 * epochs))  # the preset's 5%
    overrides = [f"model.{k}={v}" for k, v in model.items()]
    overrides += [f"data.options.{k}={v}" for k, v in OPTIONS.items()]
    overrides += [f"train.max_epochs={epochs}", "train.batch_size=32"]
    config = resolve(method, "toy-sprites", "cpu", overrides=overrides)
    with tempfile.TemporaryDirectory() as folder:
        run = train(config, Path(folder) / "run", enable_progress_bar=False)
        report = probe_report(
            load(run), load_data("toy-sprites", "train", None, **OPTIONS),
            load_data("toy-sprites", "test", None, **OPTIONS),
        )  # fmt: skip
    return {k: round(v, 3) for k, v in report.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="c-dsvae:12,dsvae:12,spyl:12,spyl:30")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    for item in args.runs.split(","):
        method, epochs = item.split(":")
        report = probe(method, int(epochs))
        record(OUT, results, f"{method}:{epochs}", {"machine": machine(), "probes": report})
        print(
            f"{method:<8} {epochs:>3} epochs  static->top {report['static->top']:.2f}  "
            f"static->action {report['static->action']:.2f}  "
            f"dynamic->action {report['dynamic->action']:.2f}  mse {report['mse']:.4f}"
        )


if __name__ == "__main__":
    main()
