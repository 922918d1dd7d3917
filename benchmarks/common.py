"""What the benchmark scripts share: training a ``cpu`` preset run once and reusing it."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

from unweave.training.config import resolve
from unweave.training.run import train, write_atomic


def ensure_run(
    method: str, data: str, root: Path | None, runs: Path, prefix: str
) -> tuple[Path, float | None]:
    """Train ``method``'s cpu preset on ``data`` into ``runs/<prefix>-<method>-<data>``.

    Returns the run and its training time in seconds, None when a finished run was reused;
    an interrupted run resumes from its last checkpoint.
    """
    run = runs / f"{prefix}-{method}-{data}"
    if (run / "model.safetensors").exists():
        return run, None
    config = resolve(method, data, "cpu", root=str(root) if root else None)
    start = time.perf_counter()
    train(config, run, resume=(run / "checkpoints" / "last.ckpt").exists())
    return run, time.perf_counter() - start


def record(path: Path, results: dict, data: str, entry: dict) -> None:
    """Stamp ``entry`` with the time, store it as ``results[data]`` and write the JSON whole."""
    entry["date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results[data] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(results, indent=1))
