"""Checkpoints kept at chosen steps and the training time each one took, for budget curves.

``train.keep_checkpoints_at: [500, 1000, 2000]`` keeps ``checkpoints/step-<N>.ckpt`` beside
``last.ckpt`` the first time the global step reaches each listed step (``N`` is the step the
run is at then: a model that steps several optimisers per batch may pass a listed step by
more than one). Every checkpoint also stores the seconds of training behind it, summed over
resumes, so ``unweave curve`` can plot a figure against minutes as well as steps.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from unweave.errors import UnweaveError

KEPT_PATTERN = re.compile(r"step-(\d+)\.ckpt")


def kept_checkpoint_name(step: int) -> str:
    """The file name of the checkpoint kept at global step ``step``."""
    return f"step-{step}.ckpt"


def kept_checkpoints(checkpoint_dir: Path) -> dict[int, Path]:
    """Global step -> path of every ``step-<N>.ckpt`` in ``checkpoint_dir``, by step."""
    found = {}
    for path in Path(checkpoint_dir).glob("step-*.ckpt"):
        match = KEPT_PATTERN.fullmatch(path.name)
        if match:
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


class KeepCheckpoints(Callback):
    """Saves ``step-<N>.ckpt`` in ``checkpoint_dir`` when training first reaches each step of
    ``steps`` (a resumed run keeps only the steps it has not yet passed)."""

    def __init__(self, checkpoint_dir: Path, steps: list[int]) -> None:
        self.checkpoint_dir, self.steps = Path(checkpoint_dir), sorted(set(steps))
        self.previous_step = 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.previous_step = trainer.global_step

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        step = trainer.global_step
        if any(self.previous_step < kept <= step for kept in self.steps):
            path = self.checkpoint_dir / kept_checkpoint_name(step)
            trainer.save_checkpoint(path, weights_only=False)  # with the clock: full state
        self.previous_step = step


class TrainingClock(Callback):
    """Stores in every checkpoint the seconds spent training so far (``elapsed_s``), summed
    over resumes; data loading and checkpoint writing count, evaluation outside fit does not."""

    def __init__(self) -> None:
        self.before, self.started = 0.0, None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.started = time.monotonic()

    def elapsed(self) -> float:
        """Seconds of training so far, this process's and the resumed runs' before it."""
        running = 0.0 if self.started is None else time.monotonic() - self.started
        return self.before + running

    def state_dict(self) -> dict[str, float]:
        return {"elapsed_s": self.elapsed()}

    def load_state_dict(self, state_dict: dict[str, float]) -> None:
        self.before = float(state_dict["elapsed_s"])


def checkpoint_seconds(checkpoint: dict[str, Any]) -> float | None:
    """The training seconds a checkpoint's :class:`TrainingClock` stored (None: none stored)."""
    state = (checkpoint.get("callbacks") or {}).get(TrainingClock.__qualname__)
    return None if state is None else float(state["elapsed_s"])


def select_checkpoints(run_dir: Path, which: str) -> list[Path]:
    """The checkpoints of ``run_dir`` that ``which`` names: ``all`` (every kept
    ``step-<N>.ckpt``, then ``last.ckpt``), ``last``, or steps such as ``930,1860``."""
    folder = Path(run_dir) / "checkpoints"
    kept, last = kept_checkpoints(folder), folder / "last.ckpt"
    if not kept and not last.exists():
        raise UnweaveError(
            f"Run {run_dir} has no checkpoints ({folder} is missing or empty); expected a run "
            "folder written by 'unweave train'."
        )
    keep_hint = (
        "train with --set 'train.keep_checkpoints_at=[STEP,...]' (or resume it with a larger "
        "train.max_epochs and that setting) to keep some"
    )
    if which == "last":
        if not last.exists():
            raise UnweaveError(f"Run {run_dir} has no {last.name} in {folder}.")
        return [last]
    if which == "all":
        if not kept:
            raise UnweaveError(
                f"Run {run_dir} keeps no checkpoints besides {last.name}; {keep_hint}."
            )
        return [*kept.values(), *([last] if last.exists() else [])]
    steps = []
    for part in which.split(","):
        if not part.strip().isdigit():
            raise UnweaveError(
                f"--checkpoints '{which}': '{part.strip()}' is not a step; expected all, last, "
                "or steps such as 930,1860."
            )
        steps.append(int(part))
    missing = [s for s in steps if s not in kept]
    if missing:
        have = ", ".join(map(str, kept)) or f"none; {keep_hint}"
        raise UnweaveError(
            f"Run {run_dir} has no checkpoint kept at step {missing[0]}; kept steps: {have}."
        )
    return [kept[s] for s in steps]
