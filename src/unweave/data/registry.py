"""Data sets by name: what ``--data NAME`` means on the command line."""

from __future__ import annotations

import os
from pathlib import Path

from unweave.data.base import SequenceData
from unweave.errors import UnweaveError

SEQUENCE_DATASETS = ("toy-sprites", "sprites", "frames")


def default_data_root(subfolder: str) -> Path | None:
    """``$UNWEAVE_DATA/<subfolder>`` when ``UNWEAVE_DATA`` is set, else None."""
    base = os.environ.get("UNWEAVE_DATA")
    return Path(base) / subfolder if base else None


def load_sequence_data(
    name: str, split: str, root: str | Path | None = None, **options
) -> SequenceData:
    """Load split ``split`` ("train" / "test") of the sequence data set ``name``.

    ``toy-sprites`` needs no files; ``sprites`` reads LPC sheets or the legacy npy files at
    ``root`` (default ``$UNWEAVE_DATA/sprites-lpc``); ``frames`` reads a
    ``<label>/<clip>/<frame>.png`` folder at ``root``. ``options`` go to the family's loader.
    """
    if split not in ("train", "test"):
        raise UnweaveError(f"Unknown split '{split}'; expected 'train' or 'test'.")
    if name == "toy-sprites":
        from unweave.data.toy_sprites import load_toy_sprites

        return load_toy_sprites(split, **options)
    if name == "sprites":
        from unweave.data.sprites import load_sprites

        root = root or default_data_root("sprites-lpc")
        if root is None:
            raise UnweaveError(
                "Sprites needs --root PATH (the LPC sheets folder or the legacy npy folder), "
                "or UNWEAVE_DATA set to a folder holding sprites-lpc/."
            )
        return load_sprites(Path(root), split, **options)
    if name == "frames":
        from unweave.data.frames import load_frame_folder

        if root is None:
            raise UnweaveError(
                "The 'frames' data set needs --root PATH to a <label>/<clip>/ folder."
            )
        return load_frame_folder(Path(root), split, **options)
    raise UnweaveError(
        f"Unknown data set '{name}'; expected one of: {', '.join(SEQUENCE_DATASETS)}."
    )
