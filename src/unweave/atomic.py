"""Files written whole or not at all: a temporary file in the target's folder, flushed to the
disk, then renamed over the target (a rename within one folder is atomic; a move across file
systems, as a system temporary folder would need, is a copy that a full disk can cut short)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_file(path: str | Path) -> Iterator[BinaryIO]:
    """A binary handle whose content replaces ``path`` only once the block ends without error;
    on any error ``path`` is untouched and the temporary file removed. The new file's mode
    follows the umask, as an ordinary ``open`` would."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself reaches the disk
    finally:
        os.close(folder)


def write_atomic(path: str | Path, content: str | bytes) -> None:
    """Write ``content`` (text as UTF-8, or bytes) to ``path`` whole or not at all."""
    with atomic_file(path) as handle:
        handle.write(content.encode() if isinstance(content, str) else content)


def process_alive(pid: int) -> bool:
    """True while process ``pid`` runs (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files :func:`atomic_file` left in ``folder`` when its process was
    killed mid-write (their process has gone); returns them."""
    stale = []
    for tmp in Path(folder).glob(".*.tmp-*"):
        pid = tmp.name.rpartition(".tmp-")[2]
        if tmp.is_file() and pid.isdigit() and not process_alive(int(pid)):
            tmp.unlink(missing_ok=True)
            stale.append(tmp)
    return stale
