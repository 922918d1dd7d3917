"""The on-disk cache of built data sets: ``$UNWEAVE_CACHE/<kind>/<hash of parameters>/``.

An entry is built in a temporary sibling folder and renamed into place only when complete,
so a crash or Ctrl-C never leaves a half-written entry that a later run would use.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from unweave.data.base import SequenceData

COMPLETE_MARKER = "COMPLETE"


def cache_root() -> Path:
    """The cache folder: ``$UNWEAVE_CACHE`` or ``~/.cache/unweave``."""
    return Path(os.environ.get("UNWEAVE_CACHE", Path.home() / ".cache" / "unweave"))


def cache_key(params: dict) -> str:
    """A stable 16-hex-digit key for the builder parameters ``params`` (JSON-serialisable)."""
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_fingerprint(path: Path) -> list:
    """``[resolved path, size in bytes, mtime in ns]``: the part of a cache key that changes
    when a source file does."""
    stat = path.stat()
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]


def cached_build(kind: str, params: dict, build: Callable[[Path], None]) -> Path:
    """Return the complete cache folder for ``(kind, params)``, calling ``build(tmp_dir)`` if absent.

    ``build`` writes its files into the empty folder it is given; the folder is renamed to the
    final place only after ``build`` returns.
    """
    final = cache_root() / kind / cache_key(params)
    if (final / COMPLETE_MARKER).exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        build(tmp)
        (tmp / "params.json").write_text(json.dumps(params, sort_keys=True, default=str))
        (tmp / COMPLETE_MARKER).write_text("")
        if final.exists():  # an incomplete leftover from an older crash
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def save_split(folder: Path, data: SequenceData) -> None:
    """Write one split as ``<split>_x.npy`` (memmap-able) and ``<split>_labels.npz`` + meta."""
    np.save(folder / f"{data.split}_x.npy", np.ascontiguousarray(data.x))
    np.savez(
        folder / f"{data.split}_labels.npz",
        **{f"static/{k}": v for k, v in data.static.items()},
        **{f"dynamic/{k}": v for k, v in data.dynamic.items()},
    )
    meta = {"factor_sizes": data.factor_sizes, "value_names": data.value_names, "name": data.name}
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))


def load_split(folder: Path, split: str) -> SequenceData:
    """Read a split written by :func:`save_split`; frames stay memmapped."""
    meta = json.loads((folder / "meta.json").read_text())
    labels = np.load(folder / f"{split}_labels.npz")
    return SequenceData(
        x=np.load(folder / f"{split}_x.npy", mmap_mode="r"),
        static={k.split("/", 1)[1]: labels[k] for k in labels.files if k.startswith("static/")},
        dynamic={k.split("/", 1)[1]: labels[k] for k in labels.files if k.startswith("dynamic/")},
        factor_sizes=meta["factor_sizes"],
        value_names=meta["value_names"],
        name=meta["name"],
        split=split,
    )
