"""What installed packages add to unweave through entry points (data sets, methods)."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint, entry_points

from unweave.errors import UnweaveError


def installed(group: str) -> Iterator[tuple[EntryPoint, object]]:
    """Each entry point of ``group`` with the object it names; one that does not load is one
    sentence naming it (not a traceback from someone else's package)."""
    for point in entry_points(group=group):
        try:
            yield point, point.load()
        except Exception as error:
            raise UnweaveError(
                f"The entry point '{point.name}' ({point.value}) in {group} does not load: {error}."
            ) from None
