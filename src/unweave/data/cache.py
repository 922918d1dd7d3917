"""The on-disk cache of built data sets: ``$UNWEAVE_CACHE/<kind>/<hash of parameters>/``.

An entry is built in a temporary sibling folder and renamed into place only when complete,
so a crash or Ctrl-C never leaves a half-written entry that a later run would use. The
temporary folder is named ``.<key>.tmp-<pid>@<host>``; one whose builder was killed is removed
by the next build of the same kind (and by ``unweave data list``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unweave.atomic import process_alive
from unweave.data.base import SequenceData
from unweave.errors import UnweaveError
from unweave.paths import check_writable_folder

COMPLETE_MARKER = "COMPLETE"
TMP_TAG = ".tmp-"
#: A temporary folder of a builder on another machine is stale after this long unchanged.
FOREIGN_STALE_S = 24 * 3600


def cache_root() -> Path:
    """The cache folder: ``$UNWEAVE_CACHE`` or ``~/.cache/unweave``; one sentence when it is a
    file."""
    setting = os.environ.get("UNWEAVE_CACHE")
    root = Path(setting) if setting else Path.home() / ".cache" / "unweave"
    if root.exists() and not root.is_dir():
        where = " (UNWEAVE_CACHE)" if setting else ""
        raise UnweaveError(
            f"The cache folder {root}{where} is a file, not a folder; point UNWEAVE_CACHE at a "
            "folder."
        )
    return root


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
    final place only after ``build`` returns. Temporaries that killed builds of ``kind`` left
    behind are removed first; those of live builders are left alone. Builders running at once
    each build their own temporary and the first to finish wins; the others use its entry.
    A full disk is one sentence and leaves nothing behind.
    """
    root = cache_root()
    final = root / kind / cache_key(params)
    if (final / COMPLETE_MARKER).exists():
        return final
    check_writable_folder(final.parent, "The cache folder", "point UNWEAVE_CACHE at another folder")
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_builds(final.parent)
    tmp = final.parent / _temporary_name(final.name)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        build(tmp)
        (tmp / "params.json").write_text(json.dumps(params, sort_keys=True, default=str))
        (tmp / COMPLETE_MARKER).write_text("")
        _move_into_place(tmp, final)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise UnweaveError(
                f"The disk holding the cache {root} filled up while building its {kind} entry "
                f"({os.strerror(err.errno)}) and the partial entry was removed; free some space "
                "or point UNWEAVE_CACHE at another disk."
            ) from None
        raise
    return final


def _temporary_name(key: str, suffix: str = "") -> str:
    """``.<key><suffix>.tmp-<pid>@<host>``: whose build a temporary folder is."""
    return f".{key}{suffix}{TMP_TAG}{os.getpid()}@{socket.gethostname()}"


def _move_into_place(tmp: Path, final: Path) -> None:
    """Rename the complete ``tmp`` to ``final``, unless another builder got there first."""
    if (final / COMPLETE_MARKER).exists():  # another process finished the same entry
        shutil.rmtree(tmp, ignore_errors=True)
        return
    if final.exists():  # an incomplete leftover (an older version's crash, a forced rebuild)
        aside = final.parent / _temporary_name(final.name, ".old")
        with contextlib.suppress(FileNotFoundError):  # another builder moved it first
            os.replace(final, aside)
        shutil.rmtree(aside, ignore_errors=True)
    try:
        os.replace(tmp, final)
    except OSError:
        if not (final / COMPLETE_MARKER).exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # another builder won the race: same content


@dataclass(frozen=True)
class Temporary:
    """A temporary folder of a build: its path, the builder's pid and host, whether it runs."""

    path: Path
    pid: int
    host: str | None
    live: bool


def build_temporaries(kind_folder: Path) -> list[Temporary]:
    """The temporary folders of builds in ``kind_folder``, live or left by killed builds.

    A builder on this machine is live while its process runs; one on another machine (a cache
    shared over the network) while it wrote something in the last :data:`FOREIGN_STALE_S` s.
    """
    found = []
    for path in sorted(Path(kind_folder).glob(f".*{TMP_TAG}*")):
        pid_text, _, host = path.name.rpartition(TMP_TAG)[2].partition("@")
        if not pid_text.isdigit() or not path.is_dir():
            continue
        if not host or host == socket.gethostname():
            live = process_alive(int(pid_text))
        else:
            live = time.time() - _newest_change(path) < FOREIGN_STALE_S
        found.append(Temporary(path, int(pid_text), host or None, live))
    return found


def remove_stale_builds(kind_folder: Path) -> list[tuple[Path, int]]:
    """Delete the temporary folders killed builds left in ``kind_folder``; returns each one's
    path and the bytes it held on disk."""
    removed = []
    for temporary in build_temporaries(kind_folder):
        if not temporary.live:
            size = disk_usage(temporary.path)
            shutil.rmtree(temporary.path, ignore_errors=True)
            if not temporary.path.exists():  # not, in a cache this user may not write to
                removed.append((temporary.path, size))
    return removed


def disk_usage(folder: Path) -> int:
    """Bytes the files under ``folder`` take on disk (as ``du`` counts them)."""
    total = 0
    for path in Path(folder).rglob("*"):
        try:
            stat = path.lstat()
        except FileNotFoundError:  # removed meanwhile
            continue
        blocks = getattr(stat, "st_blocks", None)
        total += blocks * 512 if blocks is not None else stat.st_size
    return total


def _newest_change(folder: Path) -> float:
    """The latest modification time of ``folder`` or anything in it."""
    times = [folder.stat().st_mtime]
    for path in folder.rglob("*"):
        try:
            times.append(path.lstat().st_mtime)
        except FileNotFoundError:
            continue
    return max(times)


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
