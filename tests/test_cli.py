"""The `unweave` command as a user runs it: in a subprocess, checking exit codes and outputs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import TINY_MODEL
from PIL import Image

UNWEAVE = [sys.executable, "-m", "unweave"]
TINY_DATA = ["data.options.size=16", "data.options.n_train=64", "data.options.n_test=32"]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [*UNWEAVE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def sets(*pairs: str) -> list[str]:
    return [arg for pair in pairs for arg in ("--set", pair)]


def tiny_train_args(name: str, *extra: str) -> list[str]:
    pairs = [*TINY_MODEL, *TINY_DATA, "train.batch_size=16", "train.max_epochs=1", *extra]
    return ["train", "dbse", "--data", "toy-sprites", "--name", name, *sets(*pairs)]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("cli")
    result = run_cli(*tiny_train_args("tiny"), cwd=cwd)
    assert result.returncode == 0, result.stderr
    return cwd / "runs" / "tiny"


def test_train_writes_a_complete_run(trained_run):
    for name in ("config.yaml", "env.json", "model.safetensors", "config.json", "metrics.csv"):
        assert (trained_run / name).exists()


def test_swap_writes_png_and_gif(trained_run, tmp_path):
    result = run_cli(
        "swap", str(trained_run), "--out", str(tmp_path / "s.png"), "--n", "3", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    png = Image.open(tmp_path / "s.png")
    # 4 x 4 cells (header + 3), each a strip of 8 frames of 16 px, 2 px gaps, 6 px header gap, x2
    assert png.size == (2 * (4 * (8 * 16 + 2) + 6), 2 * (4 * (16 + 2) + 6))
    gif = Image.open(tmp_path / "s.gif")
    assert gif.n_frames == 8


def test_probe_prints_a_table_and_writes_json(trained_run, tmp_path):
    result = run_cli("probe", str(trained_run), "--max-train", "64", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "skin" in result.stdout and "action" in result.stdout
    assert (trained_run / "probes.json").exists()


def test_judge_then_evaluate_writes_eval_json(trained_run, tmp_path):
    result = run_cli("evaluate", str(trained_run), "--metrics", "judge", cwd=tmp_path)
    assert result.returncode == 2 and f"unweave judge train --run {trained_run}" in result.stderr
    judge_settings = ["--epochs", "1", "--batch-size", "16"]
    judge = run_cli("judge", "train", "--run", str(trained_run), *judge_settings, cwd=tmp_path)
    assert judge.returncode == 0, judge.stderr[-2000:]
    assert "test accuracy: skin" in judge.stdout
    args = ["evaluate", str(trained_run), "--niter", "2", "--batch-size", "16"]
    args += ["--judge-epochs", "1", "--judge-batch-size", "16"]
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads((trained_run / "eval.json").read_text())
    assert 0 <= figures["judge/swap/acc/action"] <= 1 and "judge/sample_static/is_std" in figures
    assert figures["judge/published"] == 0.0  # the table says which judge scored
    printed = judge.stdout.split("test accuracy: skin ")[1].split(",")[0]
    assert figures["judge/test_accuracy/skin"] == pytest.approx(float(printed), abs=1e-4)
    assert "probe/static->skin" in figures
    classic = run_cli("evaluate", str(trained_run), "--metrics", "classic", cwd=tmp_path)
    assert classic.returncode == 0, classic.stderr[-2000:]
    figures = json.loads((trained_run / "eval.json").read_text())
    assert 0 <= figures["classic/mig"] <= 1 and 0 <= figures["classic/mi/static->skin"] <= 1
    assert "judge/swap/acc/action" in figures  # earlier figures are kept
    assert "judge/sample_dynamic/acc/skin" in result.stdout


def test_evaluate_keeps_its_figures_when_eval_json_is_damaged(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    (run / "eval.json").write_text('{"judge/swap/acc/action": 0.5,')  # cut short
    result = run_cli("evaluate", str(run), "--metrics", "classic", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "eval.json was damaged" in result.stderr and "eval.json.damaged" in result.stderr
    assert 0 <= json.loads((run / "eval.json").read_text())["classic/mig"] <= 1
    assert (run / "eval.json.damaged").read_text() == '{"judge/swap/acc/action": 0.5,'


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "dbse", "--set", "model.fdim=3"], "Unknown setting 'model.fdim'"),
        (["train", "dbse", "--preset", "huge"], "Preset 'huge' is not in dbse-toy-sprites.yaml"),
        (
            ["train", "dbse", "--data", "sprites", "--root", "/nonexistent/sprites"],
            "/nonexistent/sprites",
        ),
        (
            ["train", "dbse", "--data", "nope"],
            "Unknown data set 'nope'; expected one of: toy-sprites",
        ),
        (["swap", "runs/missing"], "runs/missing does not exist"),
        (["train", "dbse", "--resume", "--name", "none"], "config.yaml is missing"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(tmp_path, args, message):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_ddp_with_two_cpu_processes(tmp_path):
    """Multi-process DDP is chosen by configuration alone (gloo on CPU here)."""
    args = tiny_train_args(
        "ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp"
    )
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "distributed_backend=gloo" in result.stderr + result.stdout
    assert "Starting with 2 processes" in result.stderr + result.stdout
    assert (tmp_path / "runs" / "ddp" / "model.safetensors").exists()


def test_train_on_a_folder_of_user_clips(tmp_path):
    """`--data frames` reads <label>/<clip>/<frame>.png and trains end to end."""
    rng = np.random.default_rng(0)
    for label in ("jump", "wave"):
        for clip in range(6):
            folder = tmp_path / "clips" / label / f"clip{clip}"
            folder.mkdir(parents=True)
            for frame in range(8):
                pixels = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{frame}.png")
    pairs = [*TINY_MODEL, "data.options.size=16", "train.batch_size=4", "train.max_epochs=1"]
    args = ["train", "dsvae", "--data", "frames", "--root", str(tmp_path / "clips")]
    result = run_cli(*args, "--name", "mine", *sets(*pairs, "model.hidden_dim=8"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "runs" / "mine" / "model.safetensors").exists()


def test_judge_import_caches_the_published_judge_or_says_why_not(fresh_cache, tmp_path):
    import torch
    from helpers import reference_judge_state

    path = tmp_path / "sprite_judge.tar"
    torch.save({"state_dict": reference_judge_state()}, path)
    result = run_cli("judge", "import", str(path), "--data", "toy-sprites", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "test accuracy: skin" in result.stdout
    (tmp_path / "broken.tar").write_bytes(b"not a torch file")
    result = run_cli("judge", "import", str(tmp_path / "broken.tar"), cwd=tmp_path)
    assert result.returncode == 2
    assert "broken.tar is not a weights-only PyTorch file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
