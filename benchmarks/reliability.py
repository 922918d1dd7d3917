"""The reliability figures of docs/reliability.md: every fault and bad-input case of the test
suite, by kind, run once; how many were tried and how many were handled (the test passed:
one sentence, exit 2, nothing half-written, or an exact continuation), plus the examples
hypothesis generated for the readers.

    .venv/bin/python benchmarks/reliability.py   # ~3 min on 2 cores; writes results/reliability.json
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from common import machine

from unweave.atomic import write_atomic

ROOT = Path(__file__).resolve().parents[1]

#: Kind of fault -> the tests (pytest node ids) that try it.
KINDS: dict[str, list[str]] = {
    "kill -9 and resume": [
        "tests/training/test_fault_matrix.py",
        "tests/training/test_exact_resume.py::test_a_run_killed_mid_epoch_resumes_bit_exactly",
        "tests/training/test_run.py::test_resume_continues_as_if_never_stopped",
        "tests/training/test_run.py::test_a_run_killed_mid_way_resumes_from_its_last_epoch",
        "tests/training/test_run.py::test_a_run_stopped_before_its_first_checkpoint_starts_over",
        "tests/training/test_run.py::test_resume_refuses_a_setting_the_checkpoint_cannot_take",
        "tests/training/test_run.py::test_a_run_without_kept_checkpoints_resumes_with_some",
    ],
    "NaN and divergence": [
        "tests/training/test_exact_resume.py::"
        "test_every_loop_stops_at_the_first_nan_and_keeps_its_finite_checkpoint",
        "tests/training/test_run.py::test_a_nan_loss_stops_training_and_keeps_the_last_finite_checkpoint",
        "tests/training/test_run.py::test_a_huge_rate_is_stopped_with_one_sentence",
    ],
    "damaged run files, failed writes": [
        "tests/training/test_damaged_runs.py",
        "tests/test_atomic.py",
        "tests/test_cli.py::test_evaluate_keeps_its_figures_when_eval_json_is_damaged",
        "tests/training/test_run.py::test_corrupt_checkpoint_is_one_clear_sentence",
        "tests/training/test_run.py::test_corrupt_or_missing_export_is_one_clear_sentence",
    ],
    "settings (--set)": [
        "tests/training/test_config.py::test_bad_overrides_are_one_clear_sentence",
        "tests/training/test_config.py::test_numbers_are_read_as_yaml_1_2_does",
        "tests/training/test_config.py::test_an_unknown_data_option_suggests_the_closest",
    ],
    "paths, disks, the data cache": [
        "tests/test_paths_and_disks.py",
        "tests/training/test_fault_matrix.py::"
        "test_a_data_build_killed_midway_is_rebuilt_whole_and_leaves_nothing",
    ],
    "bad data files (targeted)": [
        f"tests/data/test_timeseries.py::{name}"
        for name in (
            "test_readers_refuse_files_that_are_not_utf8",
            "test_readers_accept_a_utf8_byte_order_mark",
            "test_air_quality_without_a_whole_month_is_one_sentence",
            "test_etth1_refuses_a_cell_that_is_not_a_finite_number",
            "test_etth1_refuses_a_repeated_date",
            "test_series_csv_refuses_a_repeated_time_in_a_group",
            "test_series_csv_refuses_infinite_values",
            "test_series_csv_warns_when_a_feature_has_no_value",
            "test_series_csv_refuses_bad_column_options",
            "test_physionet_refuses_bad_record_values",
            "test_physionet_refuses_bad_outcomes",
            "test_physionet_reads_outcomes_again_when_they_change",
            "test_loaders_refuse_an_empty_split",
        )
    ]
    + [
        f"tests/data/test_sprites.py::{name}"
        for name in (
            "test_legacy_bad_values_are_one_sentence",
            "test_legacy_without_clips_is_one_sentence",
            "test_sheet_claiming_a_huge_size_is_one_sentence",
        )
    ]
    + [
        f"tests/data/test_audio.py::{name}"
        for name in (
            "test_read_wav_refuses_a_truncated_file",
            "test_read_wav_refuses_samples_that_are_not_finite",
            "test_read_wav_refuses_a_rate_that_is_not_audio",
            "test_read_wav_refuses_a_resampling_ratio_of_huge_numbers",
        )
    ],
    "bad data files (fuzzed)": ["tests/data/test_fuzz_readers.py"],
}


def run_kind(nodes: list[str]) -> dict:
    """Run ``nodes`` once: cases tried, handled (passed), their names when not, seconds, and
    the examples hypothesis generated."""
    present = [n for n in nodes if (ROOT / n.split("::")[0]).exists()]
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "junit.xml"
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "--hypothesis-show-statistics", f"--junitxml={report}", *present],
            cwd=ROOT, capture_output=True, text=True,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        cases = ElementTree.parse(report).getroot().iter("testcase") if report.exists() else []
        outcomes = {
            f"{c.get('classname')}::{c.get('name')}": not any(
                child.tag in ("failure", "error") for child in c
            )
            for c in cases
            if c.find("skipped") is None
        }
    examples = sum(int(n) for n in re.findall(r"(\d+) passing(?: examples)?,", result.stdout))
    return {
        "tried": len(outcomes),
        "handled": sum(outcomes.values()),
        "not_handled": sorted(name for name, ok in outcomes.items() if not ok),
        "hypothesis_examples": examples,
        "seconds": round(seconds, 1),
        "missing_files": sorted(set(nodes) - set(present)),
    }


def main() -> None:
    kinds = {}
    for kind, nodes in KINDS.items():
        kinds[kind] = run_kind(nodes)
        row = kinds[kind]
        print(
            f"{kind:34s} {row['handled']:4d} / {row['tried']:<4d} {row['seconds']:6.1f} s",
            flush=True,
        )
    total = {k: sum(row[k] for row in kinds.values()) for k in ("tried", "handled")}
    examples = sum(row["hypothesis_examples"] for row in kinds.values())
    print(f"{'all':34s} {total['handled']:4d} / {total['tried']:<4d}  + {examples} fuzzed examples")
    out = Path(__file__).parent / "results" / "reliability.json"
    write_atomic(
        out,
        json.dumps(
            {"machine": machine(), "kinds": kinds, "total": total, "fuzzed_examples": examples},
            indent=1,
        ),
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
