"""Benchmark: DBSE on a user's own labelled series, through ``series-csv`` and its label
columns, against a linear probe on each sequence's mean features.

The set is UCI's Japanese Vowels (Kudo, Toyama & Shimbo 1999; CC BY 4.0): 640 utterances of
/ae/ by 9 male speakers, each 7-29 frames of 12 LPC cepstrum coefficients. The speaker is
the per-sequence (static) label, which no unweave loader covers. The script reads the UEA
archive's ``.ts`` files as sktime ships them (``pip download sktime==1.2.0 --no-deps`` and
unzip ``sktime/datasets/data/JapaneseVowels/``), writes them as the CSV a user would have
(``utterance,frame,c1..c12,speaker``; every utterance padded to 30 frames with empty cells,
so a sequence is 6 windows of 5 frames), trains DBSE with
``data.options.static_labels=[speaker]`` keeping checkpoints, scores each with the probes of
``unweave evaluate``, and compares the static code's speaker accuracy with a linear probe on
the mean of each test sequence's observed (normalised) frames (and, for reference, of its
first 5 frames, the window the static code reads). Writes
``benchmarks/results/labelled_series.json``, ``docs/images/budget-japanese-vowels.png``.

    python benchmarks/labelled_series.py --ts-dir DIR [--runs runs]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import numpy as np
from common import ensure_run, machine, record

from unweave.atomic import write_atomic
from unweave.data.registry import load_data
from unweave.evaluation import Evaluation, EvaluationSettings, score_checkpoints
from unweave.metrics.probes import chance, probe_accuracy
from unweave.training.milestones import select_checkpoints
from unweave.viz.curves import curve_figure, read_curve
from unweave.viz.plots import save_figure

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "labelled_series.json"
FRAMES, COEFFICIENTS = 30, 12
COLUMNS = [f"c{i + 1}" for i in range(COEFFICIENTS)]
OPTIONS = (
    "data.options.time_column=frame",
    "data.options.group_column=utterance",
    f"data.options.feature_columns=[{','.join(COLUMNS)}]",
    "data.options.static_labels=[speaker]",
)
MODEL = (
    f"model.n_features={COEFFICIENTS}", "model.window=5", "model.n_windows=6",
    "train.max_epochs=500",
    "train.keep_checkpoints_at=[52,104,260,520,1040,2600,5200,10400,15600,26000]",
)  # fmt: skip


def read_ts(path: Path) -> list[tuple[np.ndarray, str]]:
    """The ``(frames, coefficients)`` series and class label of each case of a ``.ts`` file
    (the UEA archive's text format: ``@`` header lines, then one case per line, its
    dimensions separated by ``:``, values by ``,``, the label last)."""
    cases, in_data = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower() == "@data":
            in_data = True
        elif in_data:
            *dims, label = line.split(":")
            series = np.array([[float(v) for v in d.split(",")] for d in dims]).T
            cases.append((series, label))
    if not cases:
        raise SystemExit(f"{path} holds no cases after @data; expected a .ts file.")
    return cases


def write_csv(ts_dir: Path, out: Path) -> int:
    """Both ``.ts`` splits as one CSV at ``out`` (the loader draws its own split); returns
    the number of utterances."""
    cases = [
        c for split in ("TRAIN", "TEST")
        for c in read_ts(ts_dir / f"JapaneseVowels_{split}.ts")
    ]  # fmt: skip
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["utterance", "frame", *COLUMNS, "speaker"])
    for n, (series, speaker) in enumerate(cases):
        for t in range(FRAMES):
            values = [f"{v:.6g}" for v in series[t]] if t < len(series) else [""] * COEFFICIENTS
            writer.writerow([f"u{n:03d}", t, *values, speaker])
    write_atomic(out, buffer.getvalue())
    return len(cases)


def mean_feature_baselines(root: Path, window: int) -> dict[str, float]:
    """Speaker accuracy of a linear probe on each sequence's mean observed frame, over the
    whole sequence and over its first ``window`` frames (what DBSE's static code reads)."""
    options = dict(
        time_column="frame", group_column="utterance", feature_columns=COLUMNS,
        static_labels=["speaker"],
    )  # fmt: skip
    splits = [load_data("series-csv", s, root, **options) for s in ("train", "test")]
    labels = [d.static["speaker"] for d in splits]
    figures = {}
    for name, frames in (("mean_features", None), ("first_window_mean", window)):
        means = [
            (d.x[:, :frames] * d.mask[:, :frames]).sum(1) / np.maximum(d.mask[:, :frames].sum(1), 1)
            for d in splits
        ]
        figures[name] = probe_accuracy(means[0], labels[0], means[1], labels[1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ts-dir", type=Path, required=True, help="JapaneseVowels_*.ts folder")
    parser.add_argument("--runs", type=Path, default=REPO / "runs")
    args = parser.parse_args()
    csv_path = args.runs / "japanese-vowels.csv"
    utterances = write_csv(args.ts_dir, csv_path)
    run, _ = ensure_run(
        "dbse", "series-csv", csv_path, args.runs, "labelled", "cpu", (*OPTIONS, *MODEL),
        name="budget-japanese-vowels",
    )  # fmt: skip
    evaluation = Evaluation(run, "series", ["probes"], EvaluationSettings(), csv_path)
    for _ in score_checkpoints(evaluation, select_checkpoints(run, "all")):
        pass
    metric = "probe/static->speaker"
    curve = read_curve(run, metric)
    baselines = mean_feature_baselines(csv_path, window=5)
    baseline = baselines["mean_features"]
    save_figure(
        curve_figure({metric: curve}, "speaker accuracy", goals={metric: baseline}),
        REPO / "docs" / "images" / "budget-japanese-vowels.png",
    )
    test = evaluation.test
    entry = {
        "utterances": utterances,
        "train_sequences": len(evaluation.train),
        "test_sequences": len(test),
        "static_code": curve[-1]["value"],
        "dynamic_code": json.loads((run / "evals" / f"step-{curve[-1]['step']}.json").read_text())[
            "probe/dynamic->speaker"
        ],
        **baselines,
        "chance": chance(test.static["speaker"]),
        "curve": curve,
        "train_minutes": curve[-1]["minutes"],  # summed over the run's resumes
        "machine": machine(),
    }
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    record(OUT, results, "japanese-vowels", entry)
    print("| representation | speaker accuracy (test) |\n|---|---|")
    for label, key in (
        ("DBSE static code", "static_code"), ("DBSE dynamic codes", "dynamic_code"),
        ("mean features (linear probe)", "mean_features"),
        ("mean of the first 5 frames (linear probe)", "first_window_mean"), ("chance", "chance"),
    ):  # fmt: skip
        print(f"| {label} | {entry[key]:.3f} |")


if __name__ == "__main__":
    main()
