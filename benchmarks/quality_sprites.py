"""Benchmark: DBSE vs DSVAE (``cpu`` presets) on real Sprites: reconstruction and probes.

Trains both methods with the same sizes and budget (or reuses finished runs), then fits
logistic-regression probes (scikit-learn) on train-split codes and scores the test split:
static attributes from the static code and the action from the dynamic code (should be
high), and the cross leakage (should be near chance). Writes
``benchmarks/results/quality_sprites.json`` and prints a Markdown table.

    python benchmarks/quality_sprites.py [--root ../shared/data/sprites-lpc] [--runs runs]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import torch

import unweave
from unweave.data.sprites import load_sprites
from unweave.metrics.probes import probe_report
from unweave.training.config import resolve
from unweave.training.run import train

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO.parent / "shared" / "data" / "sprites-lpc"
OUT = REPO / "benchmarks" / "results" / "quality_sprites.json"
STATIC = ("skin", "pants", "top", "hair")


def ensure_run(method: str, root: Path, runs: Path, overrides: list[str]) -> tuple[Path, float]:
    """Train ``method``'s cpu preset into ``runs/quality-<method>`` unless it is finished."""
    run = runs / f"quality-{method}"
    if (run / "model.safetensors").exists():
        return run, float("nan")
    config = resolve(method, "sprites", "cpu", root=root, overrides=overrides)
    start = time.perf_counter()
    train(config, run, resume=(run / "checkpoints" / "last.ckpt").exists())
    return run, time.perf_counter() - start


def markdown(results: dict) -> str:
    head = "| | DBSE | DSVAE |\n|---|---|---|\n"
    rows = [("reconstruction MSE per pixel (test)", "mse", "{:.4f}")]
    rows += [(f"static code -> {f} (high)", f"static->{f}", "{:.3f}") for f in STATIC]
    rows += [("dynamic code -> action (high)", "dynamic->action", "{:.3f}")]
    rows += [
        (f"dynamic code -> {f} (leak, chance ~0.17)", f"dynamic->{f}", "{:.3f}") for f in STATIC
    ]
    rows += [("static code -> action (leak, chance ~0.11)", "static->action", "{:.3f}")]
    rows += [("training minutes", "train_minutes", "{:.1f}")]
    body = "".join(
        f"| {label} | {fmt.format(results['dbse'][key])} | {fmt.format(results['dsvae'][key])} |\n"
        for label, key, fmt in rows
    )
    return head + body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--runs", type=Path, default=REPO / "runs")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    train_data, test = load_sprites(args.root, "train"), load_sprites(args.root, "test")
    results = {}
    for method in ("dbse", "dsvae"):
        run, seconds = ensure_run(method, args.root, args.runs, args.overrides)
        report = probe_report(unweave.load(run).model, train_data, test, max_train=9000)
        report["train_minutes"] = seconds / 60
        report["run"] = str(run)
        results[method] = report
    results["torch_threads"] = torch.get_num_threads()
    results["date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1))
    print(markdown(results))
    print(f"written to {OUT}")


if __name__ == "__main__":
    main()
