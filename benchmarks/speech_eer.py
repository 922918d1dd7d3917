"""Benchmark: speaker verification (EER) and content probes of FHVAE and DBSE on speech.

For each data set, trains both methods' ``cpu`` presets (or reuses finished runs in
``--runs``), then scores every pair of test utterances by the cosine of their static and of
their dynamic embeddings (low static EER and high dynamic EER are good), beside the MFCC-mean
baseline on the same pairs, and probes the spoken digit from each code. Writes
``benchmarks/results/speech_eer.json`` and prints a Markdown table.

    python benchmarks/speech_eer.py [--data fsdd synthetic-speech] [--root ../shared/data]
        [--runs runs] [--lda-dims 5] [--methods fhvae dbse]

The methods can run as separate processes (``--methods fhvae`` beside ``--methods dbse``,
each with ``OMP_NUM_THREADS=1``): each merges its own rows into the JSON.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from common import benchmark_methods

from unweave.data.registry import DATASETS
from unweave.metrics.speech import content_probe_report, speaker_verification_report
from unweave.training.run import load_run_data

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "speech_eer.json"
#: Speech set -> its folder under --root (the registry's own table).
FOLDERS = {
    name: entry.folder
    for name, entry in DATASETS.items()
    if entry.modality == "audio" and entry.folder
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["fsdd", "synthetic-speech"])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--runs", type=Path, default=REPO / "runs")
    parser.add_argument("--lda-dims", type=int, default=5, help="LDA dims (FSDD: at most 5).")
    parser.add_argument("--methods", nargs="+", default=["fhvae", "dbse"])
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    def evaluate(model, run: Path, root: Path | None) -> dict:
        train_data, test = load_run_data(run, "train"), load_run_data(run, "test")
        report = speaker_verification_report(model, train_data, test, lda_dims=args.lda_dims)
        report.update(content_probe_report(model, train_data, test))
        return report

    results = benchmark_methods(
        args.data, args.methods, args.root, args.runs, "speech", FOLDERS, evaluate, OUT
    )
    print(markdown(results))


def markdown(results: dict) -> str:
    """EERs (%) per data set and method, the MFCC-mean baseline on the same pairs, probes."""
    lines = [
        "| data | method | static EER % (low) | dynamic EER % (high) | MFCC-mean EER % "
        "| static EER, LDA % | digit from dynamic | digit from static | chance | train min |",
        "|---" * 10 + "|",
    ]
    for data, entry in results.items():
        for method, r in entry["methods"].items():
            train_min = "-" if r["train_minutes"] is None else f"{r['train_minutes']:.1f}"
            lines.append(
                f"| {data} | {method} | {100 * r['eer_static']:.1f} | "
                f"{100 * r['eer_dynamic']:.1f} | {100 * r['eer_mfcc_mean']:.1f} | "
                f"{100 * r.get('eer_static_lda', float('nan')):.1f} | "
                f"{r.get('dynamic->digit', float('nan')):.3f} | "
                f"{r.get('static->digit', float('nan')):.3f} | "
                f"{r.get('chance:digit', float('nan')):.3f} | {train_min} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
