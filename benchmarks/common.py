"""What the benchmark scripts share: training a ``cpu`` preset run once and reusing it."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

import unweave
from unweave.atomic import write_atomic
from unweave.training.config import resolve
from unweave.training.run import read_run_config, train, training_seconds


def machine() -> dict:
    """The CPU (model, the vector flags that matter to PyTorch), cores and torch threads."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line and "\t" in line)
    flags = set(fields.get("flags\t\t", "").split())
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    return {
        "cpu": fields.get("model name\t", platform.processor()).strip(),
        "flags": [f for f in wanted if f in flags],
        "native_bf16": bool({"avx512_bf16", "amx_bf16"} & flags),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


class StepClock(Callback):
    """Wall time from the start of the third training batch to the end of training, and the
    optimiser steps and batches in it (models with their own loop step several optimisers,
    not always once per batch)."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.steps = self.batches = 0

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if trainer.global_step >= 2 and self.start is None:
            self.start, self.first_step = time.perf_counter(), trainer.global_step

    def on_train_batch_end(self, trainer, *args) -> None:
        self.batches += self.start is not None

    def on_train_end(self, trainer, module) -> None:
        self.seconds = time.perf_counter() - self.start
        self.steps = trainer.global_step - self.first_step


def timed_run(config: dict, data) -> StepClock:
    """Train ``config`` on in-memory ``data`` through the whole Lightning loop
    (``unweave.training.run.train``: loading, logging, checkpoints) in a temporary folder;
    the clock of its steps from the third on."""
    clock = StepClock()
    with tempfile.TemporaryDirectory() as folder:
        train(
            config,
            Path(folder) / "run",
            train_data=data,
            enable_progress_bar=False,
            extra_callbacks=[clock],
        )
    return clock


def full_seconds_per_step(config: dict, data) -> float:
    """Seconds per optimiser step of the whole Lightning loop on in-memory ``data``, from the
    third step on (:func:`timed_run`)."""
    clock = timed_run(config, data)
    return clock.seconds / clock.steps


def ensure_run(
    method: str,
    data: str,
    root: Path | None,
    runs: Path,
    prefix: str,
    preset: str = "cpu",
    overrides: Sequence[str] = (),
    name: str | None = None,
) -> tuple[Path, float | None]:
    """Train ``method``'s ``preset`` on ``data`` (with ``overrides``, SECTION.KEY=VALUE) into
    ``runs/<name>``, by default ``runs/<prefix>-<method>-<data>`` (with ``-<preset>``
    appended for a preset other than ``cpu``).

    Returns the run and its training seconds, summed over resumes as its last checkpoint
    stored them (None for a run from before checkpoints stored them, reused); an interrupted
    run resumes from its last checkpoint, and so does a finished one asked to train longer
    (a larger ``train.max_epochs`` or ``max_steps``).
    """
    suffix = "" if preset == "cpu" else f"-{preset}"
    run = runs / (name or f"{prefix}-{method}-{data}{suffix}")
    config = resolve(
        method, data, preset, root=str(root) if root else None, overrides=list(overrides)
    )
    if (run / "model.safetensors").exists():
        saved = read_run_config(run)["train"]
        if all(saved[k] == config["train"][k] for k in ("max_epochs", "max_steps")):
            return run, training_seconds(run)
    start = time.perf_counter()
    train(config, run, resume=(run / "checkpoints" / "last.ckpt").exists())
    return run, training_seconds(run) or time.perf_counter() - start


def record(path: Path, results: dict, data: str, entry: dict) -> None:
    """Stamp ``entry`` with the time, store it as ``results[data]`` and write the JSON whole."""
    entry["date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results[data] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(results, indent=1))


def benchmark_methods(
    data_sets: list[str],
    methods: list[str],
    root: Path,
    runs: Path,
    prefix: str,
    folders: dict[str, str],
    evaluate: Callable[[torch.nn.Module, Path, Path | None], dict],
    out: Path,
) -> dict:
    """For every data set and method: :func:`ensure_run` (the data under ``root /
    folders[data]``, or no root), then ``evaluate(model, run, data_root)`` timed; the figures,
    with training and evaluation minutes, are merged into ``out`` as each method finishes
    (an interrupted benchmark keeps the rows it scored). Returns all results."""
    results = json.loads(out.read_text()) if out.exists() else {}
    for data in data_sets:
        data_root = root / folders[data] if data in folders else None
        for method in methods:
            run, seconds = ensure_run(method, data, data_root, runs, prefix)
            start = time.perf_counter()
            report = evaluate(unweave.load(run).model, run, data_root)
            row = {
                **report,
                "train_minutes": None if seconds is None else seconds / 60,
                "eval_minutes": (time.perf_counter() - start) / 60,
            }
            results = record_methods(out, data, {method: row})
    return results


def record_methods(path: Path, data: str, methods: dict) -> dict:
    """Merge ``methods`` (method -> figures) into ``path``'s entry for ``data``, keeping the
    rows another process wrote meanwhile; returns all results."""
    results = json.loads(path.read_text()) if path.exists() else {}
    earlier = results.get(data, {}).get("methods", {})
    record(path, results, data, {"methods": {**earlier, **methods}})
    return results
