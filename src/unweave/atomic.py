"""Files written whole or not at all: a temporary file in the target's folder, flushed to the
disk, then renamed over the target (a rename within one folder is atomic; a move across file
systems, as a system temporary folder would need, is a copy that a full disk can cut short)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO


@contextmanager
def atomic_file(path: str | Path) -> Iterator[BinaryIO]:
    """A binary handle whose content replaces ``path`` only once the block ends without error;
    on any error ``path`` is untouched and the temporary file removed (an OSError then names
    ``path``). The new file's mode follows the umask, as an ordinary ``open`` would."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno and err.filename in (None, str(tmp)):
            # A full disk raises from write() with no file name: name the file meant.
            raise OSError(err.errno, os.strerror(err.errno), str(path)) from err
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


def update_json(path: str | Path, update: dict[str, Any]) -> str | None:
    """Merge ``update`` into the JSON object at ``path`` (created if absent), whole or not at
    all. A damaged file (not JSON, or not an object) is set aside as ``<name>.damaged`` and a
    fresh one written; returns a sentence saying so, or None."""
    path = Path(path)
    previous: Any = {}
    note = None
    if path.exists():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            previous = None
        if not isinstance(previous, dict):
            aside = path.with_name(f"{path.name}.damaged")
            os.replace(path, aside)
            note = f"{path} was damaged (not a JSON object); kept as {aside.name}, written afresh."
            previous = {}
    write_atomic(path, json.dumps({**previous, **update}, indent=1))
    return note
