"""The `unweave` command on content/style data: V3 and Two-Step on PhoneNums digits (typed
in-process, so these tests need no files)."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import pytest
from PIL import Image
from test_series_cli import run_cli, sets

import unweave
from unweave.cli import main

TINY = [
    "data.options.n_pages=200",
    "model.cnn=[{channels: 4, layers: 2, blocks: 1, kernel: [3, 3], stride: [2, 2]},"
    " {channels: 8, layers: 2, blocks: 1, kernel: [3, 3], stride: [2, 2]}]",
    "model.content_dim=8",
    "model.style_dim=8",
    "model.dead_code_threshold=1",
    "train.max_epochs=1",
    "train.batch_size=8",
]


TINY_TWO_STEP = [
    "data.options.n_pages=200",
    "model.nf=4",
    "model.encoder_dense=16",
    "model.step1_epochs=1",
    "train.max_epochs=2",
    "train.batch_size=50",  # single digits, drawn i.i.d. across samples
]


def train_tiny(folder: Path, method: str, settings: list[str]) -> Path:
    result = run_cli(
        *("train", method, "--data", "phonenums", "--name", method),
        *("--runs-dir", str(folder / "runs"), *sets(*settings)),
        cwd=folder,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return folder / "runs" / method


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("fragments-cli"), "v3", TINY)


@pytest.fixture(scope="module")
def two_step_run(tmp_path_factory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("two-step-cli"), "two-step", TINY_TWO_STEP)


def test_train_writes_a_v3_model_that_loads(run) -> None:
    info = json.loads((run / "config.json").read_text())
    assert info["modality"] == "fragments" and info["method"] == "v3"
    assert info["data"]["fragment_shape"] == [10, 3, 48, 32]
    model = unweave.load(run).model
    assert model.config.codebook_size == 10 and model.config.content_dim == 8


def test_evaluate_writes_the_content_style_figures(run, tmp_path) -> None:
    result = run_cli("evaluate", str(run), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((run / "eval.json").read_text())
    for key in ("retrieval/content_code->content", "codebook/purity", "ood/5_shot"):
        assert 0 <= report[key] <= 1, key
    assert report["probe/chance:content"] == pytest.approx(0.1)  # a permutation of 0-9 each
    assert Image.open(run / "codebook.png").format == "PNG"


def test_swap_draws_the_digit_grid(run, tmp_path) -> None:
    result = run_cli("swap", str(run), "--n", "4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    image = Image.open(run / "swap.png")
    assert image.format == "PNG" and image.width >= 5 * 2 * 32 and image.height >= 5 * 2 * 48


def test_two_step_trains_and_evaluates_through_the_common_commands(two_step_run, tmp_path) -> None:
    info = json.loads((two_step_run / "config.json").read_text())
    assert info["method"] == "two-step" and info["modality"] == "fragments"
    model = unweave.load(two_step_run).model
    assert model.pixel_std.item() > 0.1  # standardised by the training pixels
    result = run_cli("evaluate", str(two_step_run), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((two_step_run / "eval.json").read_text())
    for key in (
        "retrieval/content_code->content",
        "probe/content from style code",
        "ood/zero_shot",
    ):
        assert 0 <= report[key] <= 1, key
    assert "codebook/purity" not in report  # no codebook
    result = run_cli("swap", str(two_step_run), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert Image.open(two_step_run / "swap.png").format == "PNG"


def test_codebook_smaller_than_one_is_one_error_line(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["train", "v3", "--data", "phonenums"]
    monkeypatch.setattr(sys, "argv", ["unweave", *args, *sets("model.codebook_size=0")])
    with warnings.catch_warnings(), pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "model.codebook_size is 0; expected an integer >= 1" in err
    assert not (tmp_path / "runs").exists()
