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
