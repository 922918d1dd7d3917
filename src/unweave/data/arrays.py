"""Your own arrays as a data set: one ``<split>.npz`` per split in a folder.

Each file holds ``x`` and, optionally, ``mask`` (series: bool like ``x``, True where
observed), ``static_<name>`` ``(N,)`` int labels of what stays fixed in a sequence and
``dynamic_<name>`` labels of what moves (series: ``(N, T)`` per step; video: ``(N,)`` per
clip). ``series-npz`` takes ``x`` ``(N, T, F)`` float, ``video-npz`` ``(N, T, C, H, W)``
uint8 frames. Files are read with ``allow_pickle=False``. :func:`save_arrays` writes them
(``unweave.fit`` does, for arrays given in Python).
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np

from unweave.atomic import write_atomic
from unweave.data.base import SequenceData
from unweave.data.timeseries import SeriesData
from unweave.errors import UnweaveError

SPLITS = ("train", "test")


def save_arrays(
    folder: str | Path,
    split: str,
    x: Any,
    mask: Any = None,
    static: dict[str, Any] | None = None,
    dynamic: dict[str, Any] | None = None,
) -> Path:
    """Write ``folder/<split>.npz`` (atomically) from array-likes (numpy or torch)."""
    arrays = {"x": np.asarray(x)}
    if mask is not None:
        arrays["mask"] = np.asarray(mask, bool)
    for kind, labels in (("static", static), ("dynamic", dynamic)):
        for name, values in (labels or {}).items():
            arrays[f"{kind}_{name}"] = np.asarray(values)
    path = Path(folder) / f"{split}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(path, buffer.getvalue())
    return path


def _read(root: Path, split: str) -> tuple[Path, dict[str, np.ndarray]]:
    """The arrays of ``root/<split>.npz`` with integer labels checked."""
    if split not in SPLITS:
        raise UnweaveError(f"Unknown split '{split}'; expected 'train' or 'test'.")
    path = Path(root) / f"{split}.npz"
    if not path.is_file():
        raise UnweaveError(f"{path} does not exist; expected {split}.npz with an array 'x'.")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (ValueError, OSError) as err:
        raise UnweaveError(f"{path} is not a readable npz file without pickles ({err}).") from None
    if "x" not in arrays:
        raise UnweaveError(f"{path} has no array 'x'; it holds {', '.join(arrays) or 'nothing'}.")
    unknown = [
        k for k in arrays if k not in ("x", "mask") and not k.startswith(("static_", "dynamic_"))
    ]
    if unknown:
        raise UnweaveError(
            f"{path} holds '{unknown[0]}'; expected x, mask, static_<name> and dynamic_<name>."
        )
    for key, values in arrays.items():
        if key.startswith(("static_", "dynamic_")) and not np.issubdtype(values.dtype, np.integer):
            raise UnweaveError(f"{path}: '{key}' is {values.dtype}; expected integer labels.")
    return path, arrays


def _labels(arrays: dict[str, np.ndarray], kind: str) -> dict[str, np.ndarray]:
    prefix = f"{kind}_"
    return {k[len(prefix) :]: v.astype(np.int64) for k, v in arrays.items() if k.startswith(prefix)}


def _series(path: Path, arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``x`` ``(N, T, F)`` float64 (0 where unobserved) and its ``mask``, checked."""
    x = arrays["x"]
    if x.ndim != 3 or not np.issubdtype(x.dtype, np.number):
        raise UnweaveError(
            f"{path}: x has shape {x.shape} ({x.dtype}); expected numbers (N, T, F)."
        )
    mask = arrays.get("mask", np.ones(x.shape, bool)).astype(bool)
    if mask.shape != x.shape:
        raise UnweaveError(f"{path}: mask has shape {mask.shape}; expected {x.shape} like x.")
    x = np.where(mask, x, 0).astype(np.float64)
    if not np.isfinite(x).all():
        raise UnweaveError(f"{path}: x has NaN or infinite observed values; mask them out.")
    return x, mask


def load_series_npz(split: str, root: Path) -> SeriesData:
    """``root/<split>.npz`` as series: ``x`` ``(N, T, F)``, ``mask`` (default: all observed),
    z-scored per feature with the observed values of ``train.npz`` (``meta["mean"]``,
    ``meta["std"]``), as the other series loaders do."""
    path, arrays = _read(root, split)
    x, mask = _series(path, arrays)
    train_x, train_mask = (x, mask) if split == "train" else _series(*_read(root, "train"))
    if train_x.shape[1:] != x.shape[1:]:
        raise UnweaveError(
            f"{path}: x has shape {x.shape}; expected (N, {train_x.shape[1]}, "
            f"{train_x.shape[2]}) like train.npz."
        )
    observed = np.maximum(train_mask.sum((0, 1)), 1)
    mean = (train_x * train_mask).sum((0, 1)) / observed
    std = np.sqrt((((train_x - mean) ** 2) * train_mask).sum((0, 1)) / observed)
    std = np.where(std > 0, std, 1.0)
    x = np.where(mask, (x - mean) / std, 0).astype(np.float32)
    names = [f"f{i}" for i in range(x.shape[2])]
    return SeriesData(
        x, mask, names, "series-npz", split,
        static=_labels(arrays, "static"), dynamic=_labels(arrays, "dynamic"),
        meta={"mean": mean.astype(np.float32), "std": std.astype(np.float32)},
    )  # fmt: skip


def load_video_npz(split: str, root: Path) -> SequenceData:
    """``root/<split>.npz`` as clips: ``x`` ``(N, T, C, H, W)`` uint8 frames, labels per clip.
    A factor's size is its largest label + 1 over both splits."""
    path, arrays = _read(root, split)
    x = arrays["x"]
    if x.ndim != 5 or x.dtype != np.uint8:
        raise UnweaveError(
            f"{path}: x has shape {x.shape} ({x.dtype}); expected uint8 (N, T, C, H, W)."
        )
    static, dynamic = _labels(arrays, "static"), _labels(arrays, "dynamic")
    sizes: dict[str, int] = {}
    for other in SPLITS:  # the labels only: npz members load one at a time
        if (Path(root) / f"{other}.npz").is_file():
            with np.load(Path(root) / f"{other}.npz", allow_pickle=False) as npz:
                for key in npz.files:
                    if key.startswith(("static_", "dynamic_")) and npz[key].size:
                        name = key.split("_", 1)[1]
                        sizes[name] = max(sizes.get(name, 0), int(npz[key].max()) + 1)
    return SequenceData(x, static, dynamic, sizes, "video-npz", split)
