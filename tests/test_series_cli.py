"""The `unweave` command on series: train, probe, swap and downstream on synthetic series.

Training and the commands after it run in subprocesses, as a user runs them. The input
errors, which fail before any work, call the entry point (``unweave.cli.main``, what the
console script runs) in-process: a fresh interpreter per case would cost ~5 s of imports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import unweave
from unweave.cli import main
from unweave.data.synthetic_series import load_synthetic_series

UNWEAVE = [sys.executable, "-m", "unweave"]
N_TRAIN, N_TEST = 200, 100
TINY = [
    "train.max_epochs=1",
    f"data.options.n_train={N_TRAIN}",
    f"data.options.n_test={N_TEST}",
    "model.mc_samples=1",
]


def cli_env() -> dict[str, str]:
    # One torch thread: on a small machine shared with other work, intra-op threads
    # spin-wait on each other and a 3-step epoch takes 20 s instead of 2.
    return {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}


def start_cli(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*UNWEAVE, *args],
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen) -> subprocess.CompletedProcess:
    stdout, stderr = process.communicate(timeout=600)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return finish(start_cli(*args, cwd=cwd))


def sets(*pairs: str) -> list[str]:
    return [arg for pair in pairs for arg in ("--set", pair)]


def train_args(method: str, runs_dir: Path, *extra: str) -> list[str]:
    return [
        *("train", method, "--data", "synthetic-series", "--name", method),
        *("--runs-dir", str(runs_dir), *sets(*TINY, *extra)),
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """A tiny DBSE run and a tiny seqvae run, trained side by side."""
    folder = tmp_path_factory.mktemp("series-cli")
    processes = [start_cli(*train_args(m, folder / "runs"), cwd=folder) for m in ("dbse", "seqvae")]
    for process in processes:
        result = finish(process)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "Run written to" in result.stdout
    return folder / "runs"


@pytest.fixture(scope="module")
def synthetic_test():
    return load_synthetic_series("test", N_TRAIN, N_TEST)


def chance(labels: np.ndarray) -> float:
    return float(np.bincount(labels).max() / len(labels))


def test_train_writes_a_series_model_that_loads(runs) -> None:
    run = runs / "dbse"
    for name in ("config.yaml", "model.safetensors", "config.json", "metrics.csv"):
        assert (run / name).exists(), name
    info = json.loads((run / "config.json").read_text())
    assert info["modality"] == "series" and info["method"] == "dbse"
    assert info["data"]["name"] == "synthetic-series"
    assert info["data"]["static_factors"] == ["level", "family"]
    model = unweave.load(run).model
    x = torch.from_numpy(load_synthetic_series("test", N_TRAIN, N_TEST).x[:3])
    latents = model.encode(x, torch.ones_like(x, dtype=torch.bool))
    assert latents.static.mean.shape == (3, 8)
    assert latents.dynamic.mean.shape == (3, 10, 8)
    assert torch.isfinite(latents.dynamic.mean).all()


def test_seqvae_run_has_no_static_code(runs) -> None:
    info = json.loads((runs / "seqvae" / "config.json").read_text())
    assert info["modality"] == "series" and info["method"] == "seqvae"
    model = unweave.load(runs / "seqvae").model
    x = torch.zeros(2, 240, 4)
    latents = model.encode(x, torch.ones_like(x, dtype=torch.bool))
    assert latents.static is None and latents.dynamic.mean.shape == (2, 10, 16)


def test_probe_writes_series_probes(runs, tmp_path, synthetic_test) -> None:
    run = runs / "dbse"
    result = run_cli("probe", str(run), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "regime" in result.stdout and "reconstruction MSE" in result.stdout
    report = json.loads((run / "probes.json").read_text())
    for key in ("static->level", "dynamic->regime", "chance:family", "static->family"):
        assert key in report, key
    assert 0 <= report["static->level"] <= 1 and 0 <= report["dynamic->regime"] <= 1
    assert report["chance:family"] == pytest.approx(chance(synthetic_test.static["family"]))
    assert report["chance:regime"] == pytest.approx(
        chance(synthetic_test.targets["regime"].ravel())
    )


def test_swap_writes_both_figures(runs, tmp_path) -> None:
    run = runs / "dbse"
    result = run_cli("swap", str(run), "--n", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"Static swap: {run / 'swap.png'}" in result.stdout
    for name in ("swap.png", "reconstruction.png"):
        image = Image.open(run / name)
        assert image.format == "PNG" and min(image.size) > 100
        assert len(np.unique(np.asarray(image.convert("L")))) > 2  # not a blank canvas


def test_downstream_on_a_run_writes_json(runs, tmp_path, synthetic_test) -> None:
    run = runs / "dbse"
    args = ["downstream", str(run), "--task", "level", "--runs", "1", "--epochs", "2"]
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "dbse (dbse) / level" in result.stdout
    level = json.loads((run / "downstream.json").read_text())["level"]
    assert level["task"] == "level" and level["runs"] == 1
    assert len(level["accuracy"]["values"]) == 1 and 0 <= level["accuracy"]["mean"] <= 1
    assert level["chance"]["mean"] == pytest.approx(chance(synthetic_test.static["level"]))


def test_downstream_on_raw_features_prints_a_table(tmp_path) -> None:
    args = ["downstream", "--data", "synthetic-series", "--task", "family"]
    result = run_cli(*args, "--runs", "1", "--epochs", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["representation", "task", "metric", "mean", "±", "std"]
    rows = {line.split()[5]: line for line in lines[1:]}  # "raw features / family family M"
    assert set(rows) == {"accuracy", "valid_accuracy", "chance"}
    expected = chance(load_synthetic_series("test").static["family"])
    assert f"{expected:.3f} ± 0.000" in rows["chance"]
    assert not list(tmp_path.iterdir())  # no run folder: nothing written


def test_swap_of_seqvae_fails_without_a_static_code(runs, tmp_path) -> None:
    result = run_cli("swap", str(runs / "seqvae"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: Swapping needs a static code; the seqvae model has none."
    )
    assert not (runs / "seqvae" / "swap.png").exists()


def invoke(capsys, monkeypatch, *args: str) -> tuple[int, str, str]:
    """``unweave ARGS`` in-process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["unweave", *args])
    with warnings.catch_warnings(), pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    return exited.value.code, out, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["downstream", "{run}", "--task", "mortality"],
            "Task 'mortality' needs data physionet, not 'synthetic-series'; tasks for "
            "'synthetic-series': level, family.",
        ),
        (["downstream"], "Give a run folder, or --data NAME for the raw-features baseline."),
        (
            ["train", "dbse", "--data", "synthetic-series", "--runs-dir", "{tmp}/runs"]
            + sets("model.dynamic_input=fancy"),
            "model.dynamic_input is 'fancy'; expected one of: subtracted, raw.",
        ),
        (
            ["train", "dsvae", "--data", "synthetic-series", "--runs-dir", "{tmp}/runs"],
            "Unknown method 'dsvae' for series data; expected one of: dbse, seqvae, spyl.",
        ),
        (
            ["train", "dbse", "--data", "series-csv", "--root", "{tmp}/mine.csv"],
            "The 'series-csv' data set needs data.options time_column, feature_columns and "
            "group_column (--set data.options.KEY=...).",
        ),
        (
            ["train", "dbse", "--data", "series-csv", "--root", "{tmp}/mine.csv"]
            + ["--runs-dir", "{tmp}/runs"]
            + sets(
                "data.options.time_column=t",
                "data.options.group_column=id",
                "data.options.feature_columns=[a, b]",
                "model.n_features=2",
                "model.window=4",
                "model.n_windows=3",
                "train.batch_size=2",
            ),
            "dbse for series takes x and mask of shape (B, 12, 2) (3 windows of 4 steps); "
            "got x (2, 8, 2) and mask (2, 8, 2).",
        ),
    ],
    ids=[
        "task-on-wrong-data",
        "no-run-no-data",
        "bad-dynamic-input",
        "no-dsvae-for-series",
        "csv-without-columns",
        "csv-shape-is-not-the-model-shape",
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(
    runs, tmp_path, capsys, monkeypatch, args, message
) -> None:
    monkeypatch.chdir(tmp_path)
    run = runs / "dbse"
    written = run / "downstream.json"
    before = written.read_text() if written.exists() else None
    rows = [f"{sensor},{t},{t % 3},{-t}" for sensor in "uvwxy" for t in range(8)]
    (tmp_path / "mine.csv").write_text("\n".join(["id,t,a,b", *rows]) + "\n")
    args = [a.replace("{run}", str(run)).replace("{tmp}", str(tmp_path)) for a in args]
    code, out, err = invoke(capsys, monkeypatch, *args)
    assert code == 2
    assert err.strip() == f"error: {message}"
    assert not (tmp_path / "runs").exists()
    assert (written.read_text() if written.exists() else None) == before
