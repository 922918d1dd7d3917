"""Clips stored as folders of frame images: ``<root>/<label>/<clip>/<frame>.png|jpg|jpeg``.

This is the layout of the MUG facial-expression data set and of most users' own clips. The
label folder becomes the dynamic factor ``label``; there are no static factors. Decoded
frames are cached (see :mod:`unweave.data.cache`), keyed by the options and a fingerprint of
the files, so editing the folder triggers a rebuild.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from unweave.data.base import SequenceData
from unweave.data.cache import cached_build, load_split, save_split
from unweave.errors import UnweaveError

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")
CACHE_VERSION = 1


def natural_key(name: str) -> tuple:
    """Sort key that orders digit runs by value, so ``"2.png" < "10.png"``."""
    return tuple(
        (0, int(part), part) if part.isdigit() else (1, 0, part.lower())
        for part in re.split(r"(\d+)", name)
        if part
    )


def _subfolders(folder: Path) -> list[Path]:
    """Visible subfolders of ``folder`` in natural order."""
    return sorted(
        (p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: natural_key(p.name),
    )


def _frame_files(clip: Path) -> list[Path]:
    """Visible ``.png`` / ``.jpg`` / ``.jpeg`` files of ``clip`` in natural order."""
    return sorted(
        (
            p
            for p in clip.iterdir()
            if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith(".") and p.is_file()
        ),
        key=lambda p: natural_key(p.name),
    )


@dataclass
class _Clip:
    """One clip: its label index and the frame files that will be read."""

    label: int
    frames: list[Path]


def _scan(root: Path, seq_len: int, stride: int) -> tuple[list[str], list[_Clip], dict]:
    """Check the layout and list the clips: (label names, clips, fingerprint of the files)."""
    if not root.is_dir():
        raise UnweaveError(f"Frame folder {root} does not exist or is not a folder.")
    label_dirs = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )
    if not label_dirs:
        raise UnweaveError(
            f"Frame folder {root} has no label folders; expected <root>/<label>/<clip>/<frame>.png."
        )
    needed = (seq_len - 1) * stride + 1
    clips: list[_Clip] = []
    count, total_bytes, latest_mtime = 0, 0, 0
    for index, label_dir in enumerate(label_dirs):
        clip_dirs = _subfolders(label_dir)
        if not clip_dirs:
            raise UnweaveError(
                f"Label folder {label_dir} has no clip folders; "
                "expected <root>/<label>/<clip>/<frame>.png."
            )
        for clip_dir in clip_dirs:
            files = _frame_files(clip_dir)
            if len(files) < needed:
                raise UnweaveError(
                    f"Clip folder {clip_dir} has {len(files)} frames but {needed} are needed "
                    f"(seq_len={seq_len}, stride={stride})."
                )
            for f in files:
                stat = f.stat()
                count += 1
                total_bytes += stat.st_size
                latest_mtime = max(latest_mtime, stat.st_mtime_ns)
            clips.append(_Clip(index, files[:needed:stride]))
    fingerprint = {"files": count, "bytes": total_bytes, "latest_mtime_ns": latest_mtime}
    return [p.name for p in label_dirs], clips, fingerprint


def _split_indices(labels: np.ndarray, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Per label, permute its clips with ``RandomState(seed)``; the first share is test."""
    rng = np.random.RandomState(seed)
    test: list[np.ndarray] = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n_test = int(np.floor(test_fraction * len(members) + 0.5))
        test.append(members[rng.permutation(len(members))[:n_test]])
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[np.concatenate(test)] = True
    return {"train": np.flatnonzero(~is_test), "test": np.flatnonzero(is_test)}


def _read_frame(path: Path, size: int) -> np.ndarray:
    """One frame as ``(3, size, size)`` uint8 RGB."""
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise UnweaveError(f"Frame {path} is not a readable image ({exc}).") from exc


def load_frame_folder(
    root: Path,
    split: str,
    seq_len: int = 8,
    size: int = 64,
    stride: int = 1,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> SequenceData:
    """Load split ``split`` of a ``<root>/<label>/<clip>/<frame>`` folder.

    Each clip gives its first ``seq_len`` frames (natural file-name order) taken every
    ``stride`` frames, as RGB resized to ``size x size``: x is ``(N, seq_len, 3, size, size)``
    uint8 (memmapped from the cache). ``dynamic["label"]`` is ``(N,)`` int64, indexing the
    label folders in sorted order. Per label, ``round(test_fraction * clips)`` clips go to test.
    """
    root = Path(root)
    if split not in ("train", "test"):
        raise UnweaveError(f"Unknown split '{split}' for frames; expected 'train' or 'test'.")
    if seq_len < 1 or stride < 1 or size < 1:
        raise UnweaveError(
            f"Frames needs seq_len, stride and size >= 1; got {seq_len}, {stride} and {size}."
        )
    if not 0.0 <= test_fraction < 1.0:
        raise UnweaveError(f"test_fraction must be in [0, 1); got {test_fraction}.")
    label_names, clips, fingerprint = _scan(root, seq_len, stride)
    labels = np.array([c.label for c in clips], dtype=np.int64)
    splits = _split_indices(labels, test_fraction, seed)
    params = {
        "version": CACHE_VERSION,
        "root": str(root.resolve()),
        "seq_len": seq_len,
        "size": size,
        "stride": stride,
        "test_fraction": test_fraction,
        "seed": seed,
        "fingerprint": fingerprint,
    }

    # Decode train clips first, then test ones, so each split is a contiguous slice.
    order = np.concatenate([splits["train"], splits["test"]])
    bounds = {"train": (0, len(splits["train"])), "test": (len(splits["train"]), len(order))}

    def build(folder: Path) -> None:
        buffer_path = folder / "decoding.npy"
        frames = np.lib.format.open_memmap(
            buffer_path, mode="w+", dtype=np.uint8, shape=(len(order), seq_len, 3, size, size)
        )
        for row, index in enumerate(tqdm(order, desc=f"Decoding {root.name}", unit="clip")):
            for t, path in enumerate(clips[index].frames):
                frames[row, t] = _read_frame(path, size)
        for name, (lo, hi) in bounds.items():
            save_split(
                folder,
                SequenceData(
                    x=frames[lo:hi],
                    static={},
                    dynamic={"label": labels[order[lo:hi]]},
                    factor_sizes={"label": len(label_names)},
                    name="frames",
                    split=name,
                    value_names={"label": label_names},
                ),
            )
        del frames
        buffer_path.unlink()

    return load_split(cached_build("frames", params, build), split)
