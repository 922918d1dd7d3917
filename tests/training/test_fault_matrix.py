"""The fault matrix: a process killed with SIGKILL at chosen points (a training run before its
first checkpoint, mid-epoch, in the middle of a checkpoint write; a data build midway), then
trained again, resumed or rebuilt.

Each is a real child process that kills itself at the point (no clean-up code runs, as with
``kill -9``); the parent then continues in-process and compares the weights with a run never
stopped, or the cache entry with a whole build."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from helpers import TINY_MODEL, random_clips
from safetensors.torch import load_file

from unweave.training.config import resolve
from unweave.training.run import LAST_CHECKPOINT, train

QUIET = {"enable_progress_bar": False}
SETTINGS = [
    *TINY_MODEL,
    "train.max_epochs=2",
    "train.batch_size=8",
    "train.checkpoint_every_n_steps=2",
]  # 48 clips: 6 batches an epoch, a checkpoint every 2 steps

#: Code run in the child before training: ``KILL`` is a callback list that kills the process.
POINTS = {
    "before the first checkpoint": """
        class Kill(Callback):
            def on_train_batch_start(self, trainer, module, batch, batch_idx):
                if batch_idx == 1:
                    os.kill(os.getpid(), signal.SIGKILL)
        KILL = [Kill()]
    """,
    "mid-epoch": """
        class Kill(Callback):
            def on_train_batch_start(self, trainer, module, batch, batch_idx):
                if trainer.current_epoch == 1 and batch_idx == 3:
                    os.kill(os.getpid(), signal.SIGKILL)
        KILL = [Kill()]
    """,
    "during a checkpoint write": """
        real_save, saves = torch.save, []
        def save_then_die(obj, handle, *args, **kwargs):
            saves.append(1)
            if len(saves) == 3:  # the third checkpoint: half of it written, then killed
                handle.write(b"PK" * 1000)
                handle.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            real_save(obj, handle, *args, **kwargs)
        torch.save = save_then_die
        KILL = []
    """,
}

CHILD = """
import os, signal, sys
import torch
from lightning.pytorch.callbacks import Callback
sys.path.insert(0, {tests!r})
from helpers import random_clips
from unweave.training.config import resolve
from unweave.training.run import train
{point}
config = resolve("dbse", "toy-sprites", "cpu", overrides={settings!r})
train(config, {run!r}, train_data=random_clips(), extra_callbacks=KILL, enable_progress_bar=False)
"""


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> dict[str, torch.Tensor]:
    config = resolve("dbse", "toy-sprites", "cpu", overrides=SETTINGS)
    run = train(config, tmp_path_factory.mktemp("straight") / "run", train_data=random_clips())
    return load_file(str(run / "model.safetensors"))


@pytest.mark.parametrize("point", POINTS)
def test_a_run_killed_at_any_point_continues_to_the_same_weights(point, straight, tmp_path):
    run = tmp_path / "run"
    code = CHILD.format(
        tests=str(Path(__file__).parents[1]),
        point=textwrap.dedent(POINTS[point]),
        settings=SETTINGS,
        run=str(run),
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert not (run / "model.safetensors").exists()
    checkpoints = os.listdir(run / LAST_CHECKPOINT.parent) if (run / "checkpoints").exists() else []
    # A kill inside a write leaves its temporary file, never a damaged last.ckpt.
    assert [name for name in checkpoints if not name.startswith(".")] == (
        [] if point == "before the first checkpoint" else ["last.ckpt"]
    )
    if point == "during a checkpoint write":
        assert any(name.startswith(".last.ckpt.tmp-") for name in checkpoints)
    config = resolve("dbse", "toy-sprites", "cpu", overrides=SETTINGS)
    train(config, run, resume=True, train_data=random_clips(), **QUIET)
    resumed = load_file(str(run / "model.safetensors"))
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    assert not list(run.rglob(".*.tmp-*"))  # the cut write's temporary file is cleaned


BUILD_CHILD = """
import os, signal
from pathlib import Path
from unweave.data.cache import cached_build

def build(folder: Path) -> None:
    (folder / "x.npy").write_bytes(b"half of the data")
    os.kill(os.getpid(), signal.SIGKILL)  # killed in the middle of the build

cached_build("fault-matrix", {"n": 1}, build)
"""


def test_a_data_build_killed_midway_is_rebuilt_whole_and_leaves_nothing(tmp_path, monkeypatch):
    from unweave.data.cache import COMPLETE_MARKER, cached_build

    monkeypatch.setenv("UNWEAVE_CACHE", str(tmp_path / "cache"))
    child = subprocess.run([sys.executable, "-c", BUILD_CHILD], capture_output=True, text=True)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    kind = tmp_path / "cache" / "fault-matrix"
    assert [p.name for p in kind.iterdir() if ".tmp-" in p.name]  # the killed build's folder
    entry = cached_build("fault-matrix", {"n": 1}, lambda f: (f / "x.npy").write_bytes(b"all"))
    assert (entry / "x.npy").read_bytes() == b"all" and (entry / COMPLETE_MARKER).exists()
    assert [p.name for p in kind.iterdir()] == [entry.name]  # the leftover is removed
