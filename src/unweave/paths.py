"""Folders unweave writes into, checked before any work starts, and the one sentence a user
sees when the operating system refuses a write (full disk, no permission, a file in the way)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

#: The errors of the file system a user can act on; anything else stays a traceback (a bug).
USER_OS_ERRORS: dict[int, str] = {
    errno.ENOSPC: "free some space or write to another disk",
    errno.EDQUOT: "free some space or write to another disk",
    errno.EACCES: "check its permissions or choose another folder",
    errno.EPERM: "check its permissions or choose another folder",
    errno.EROFS: "choose a folder on a writable file system",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another path",
    errno.EISDIR: "it is a folder where a file was expected; choose another path",
    errno.EEXIST: "a file of that name is in the way; move it or choose another path",
}


def os_error_sentence(err: OSError) -> str | None:
    """One sentence for an :class:`OSError` a user can act on (naming the path and the
    reason), or None when the error is not one of :data:`USER_OS_ERRORS`."""
    hint = USER_OS_ERRORS.get(err.errno) if err.errno is not None else None
    if hint is None:
        return None
    reason = os.strerror(err.errno)
    if err.filename is None:
        return f"Could not write a file ({reason}); {hint}."
    where = str(err.filename) if err.filename2 is None else f"{err.filename} -> {err.filename2}"
    verb = "write" if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS) else "use"
    return f"Could not {verb} {where} ({reason}); {hint}."


def check_writable_folder(path: str | Path, what: str, hint: str = "choose another one") -> None:
    """Raise UnweaveError unless ``path`` is a folder that can be written to, or can be
    created: no file where a folder should be, and write permission on the nearest existing
    folder. ``what`` names the folder in the sentence (e.g. ``"Run folder"``); ``hint`` says
    what to do. Creates nothing."""
    from unweave.errors import UnweaveError

    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        if existing == path:
            raise UnweaveError(f"{what} {path} is a file, not a folder; {hint}.")
        raise UnweaveError(
            f"{what} {path} cannot be created: {existing} is a file, not a folder; {hint}."
        )
    probe = existing if existing.exists() else Path.cwd()
    if not os.access(probe, os.W_OK | os.X_OK):
        created = "written to" if existing == path else f"created in {probe}"
        read_only = hasattr(os, "statvfs") and os.statvfs(probe).f_flag & os.ST_RDONLY
        reason = "read-only file system" if read_only else "permission denied"
        raise UnweaveError(f"{what} {path} cannot be {created} ({reason}); {hint}.")
