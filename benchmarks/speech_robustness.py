"""Benchmark: FHVAE's robustness claim, a digit recogniser trained clean and tested mismatched.

As the Aurora-4 table of the FHVAE slides (FBank vs VAE z vs FHVAE z1): a recogniser of the
spoken digit under each segment (:func:`unweave.metrics.robustness.robustness_report`, a
standardised logistic regression) is fitted on clean training segments from (a) the log-mel
segment itself (20 x 80, flattened), (b) FHVAE's z1 (posterior mean), (c) a segment
beta-VAE's z (beta 1, 2, 4, 8), and scored on the test split clean, under white noise at
each SNR, through a fixed random equaliser, and both
(:class:`unweave.data.conditions.TestCondition`). Trains what is missing: the FHVAE ``cpu``
preset run ``runs/speech-fhvae-<data>`` (as ``speech_eer.py``) and one beta-VAE run per
beta, ``runs/robust-beta-vae-<data>-b<beta>``. Writes
``benchmarks/results/speech_robustness.json`` and prints the table.

    python benchmarks/speech_robustness.py [--data fsdd-strings] [--root ../shared/data]
        [--runs runs] [--snrs 20 10 5] [--channel-seed 0] [--betas 1 2 4 8]
        [--fhvae-run runs/NAME] [--set SECTION.KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from common import ensure_run, machine, record
from speech_eer import FOLDERS

import unweave
from unweave.data.conditions import TestCondition
from unweave.data.registry import load_data
from unweave.data.timeseries import SeriesData
from unweave.metrics.robustness import Representation, features_of_segments, robustness_report
from unweave.metrics.speech import segment_codes
from unweave.training.run import read_run_config

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "speech_robustness.json"


def code_of(model: torch.nn.Module) -> Representation:
    """The representation of a model: its segment code's posterior mean ``(n, Z)``."""

    def represent(data: SeriesData, rows: np.ndarray) -> np.ndarray:
        return segment_codes(model, data, rows, batch_size=512, seed=0)["dynamic"]

    return represent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fsdd-strings")
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--runs", type=Path, default=REPO / "runs")
    parser.add_argument("--snrs", type=float, nargs="+", default=[20.0, 10.0, 5.0])
    parser.add_argument("--channel-seed", type=int, default=0)
    parser.add_argument("--betas", type=float, nargs="+", default=[1.0, 2.0, 4.0, 8.0])
    parser.add_argument("--fhvae-run", type=Path, help="default: RUNS/speech-fhvae-DATA")
    parser.add_argument("--out", type=Path, default=OUT, help="the JSON to merge into")
    parser.add_argument(
        "--set", action="append", default=[], help="SECTION.KEY=VALUE for the beta-VAE runs"
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    data_root = args.root / FOLDERS[args.data] if args.data in FOLDERS else None

    fhvae_run = args.fhvae_run
    if fhvae_run is None:
        fhvae_run, _ = ensure_run("fhvae", args.data, data_root, args.runs, "speech")
    minutes = {}
    beta_runs = {}
    for beta in args.betas:
        run, seconds = ensure_run(
            "beta-vae",
            args.data,
            data_root,
            args.runs,
            "robust",
            overrides=[*args.set, f"model.beta={beta:g}"],
            name=f"robust-beta-vae-{args.data}-b{beta:g}",
        )
        beta_runs[beta] = run
        minutes[f"beta-vae b={beta:g}"] = None if seconds is None else seconds / 60

    data_config = read_run_config(fhvae_run)["data"]
    options, root = dict(data_config.get("options") or {}), data_config.get("root")
    conditions = [TestCondition()]
    conditions += [TestCondition(snr_db=snr) for snr in args.snrs]
    conditions += [TestCondition(channel_seed=args.channel_seed)]
    conditions += [TestCondition(snr_db=snr, channel_seed=args.channel_seed) for snr in args.snrs]
    tests = {
        c.name(): load_data(
            args.data,
            "test",
            root,
            **options,
            **{"test_snr_db": c.snr_db, "test_channel_seed": c.channel_seed},
        )
        for c in conditions
    }
    train = load_data(args.data, "train", root, **options)
    representations = {
        "log-mel": features_of_segments,
        "fhvae z1": code_of(unweave.load(fhvae_run).model),
    }
    for beta, run in beta_runs.items():
        representations[f"beta-vae b={beta:g} z"] = code_of(unweave.load(run).model)
    start = time.perf_counter()
    report = robustness_report(representations, train, tests)
    entry = {
        "representations": report,
        "conditions": list(tests),
        "runs": {"fhvae": str(fhvae_run), **{f"b={b:g}": str(r) for b, r in beta_runs.items()}},
        "fhvae_model": json.loads((fhvae_run / "model.json").read_text())["model"],
        "train_minutes": minutes,
        "eval_minutes": (time.perf_counter() - start) / 60,
        "machine": machine(),
    }
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    record(args.out, results, args.data, entry)
    print(markdown(args.data, entry))


def markdown(data: str, entry: dict) -> str:
    """Error % per representation and condition, with the relative rise over clean."""
    names = entry["conditions"]
    lines = [
        f"| {data} | " + " | ".join(names) + " | mean rise, mismatched |",
        "|---" * (len(names) + 2) + "|",
    ]
    for rep, figures in entry["representations"].items():
        rises = [figures[f"rise:{n}"] for n in names[1:]]
        cells = [f"{100 * figures[f'error:{names[0]}']:.1f}"] + [
            f"{100 * figures[f'error:{n}']:.1f} ({100 * figures[f'rise:{n}']:+.0f}%)"
            for n in names[1:]
        ]
        lines.append(f"| {rep} | " + " | ".join(cells) + f" | {100 * np.mean(rises):+.0f}% |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
