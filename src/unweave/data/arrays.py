"""Your own arrays as a data set: one ``<split>.npz`` per split in a folder.

Each file holds ``x`` and, optionally, ``mask`` (series: bool like ``x``, True where
observed), ``static_<name>`` ``(N,)`` int labels of what stays fixed in a sequence and
``dynamic_<name>`` labels of what moves (series: ``(N, T)`` per step; video: ``(N,)`` per
clip). ``series-npz`` takes ``x`` ``(N, T, F)`` float, ``video-npz`` ``(N, T, C, H, W)``
uint8 frames. Files are read with ``allow_pickle=False``. :func:`save_arrays` writes them
(``unweave.fit`` does, for arrays given in Python); :func:`dataset_arrays` stacks a torch
``Dataset`` into the same arrays.
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
#: The prefixes of label names in the files and in dataset items.
KINDS = ("static_", "dynamic_")


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


def dataset_arrays(dataset: Any, batch_size: int = 256) -> dict[str, Any]:
    """A map-style torch ``Dataset`` stacked into ``{"x", "mask", "static", "dynamic"}``.

    Each item is ``x`` (a tensor or array), ``(x,)``, ``(x, label)`` (the label becomes the static
    label ``label``, torchvision's habit), or a dict with ``x`` and optionally ``mask``,
    ``static_<name>`` and ``dynamic_<name>``: the keys of the npz files. Items are read
    with a ``DataLoader`` (``batch_size`` at a time) and must share their shapes.
    """
    from torch.utils.data import DataLoader, IterableDataset

    if isinstance(dataset, IterableDataset) or not hasattr(dataset, "__len__"):
        raise UnweaveError(
            f"{type(dataset).__name__} has no length; unweave.fit takes a map-style torch "
            "Dataset (__len__ and __getitem__), whose items it stacks into arrays."
        )
    if len(dataset) == 0:
        raise UnweaveError(f"The {type(dataset).__name__} is empty; it needs at least 2 items.")
    columns: dict[str, list[np.ndarray]] = {}
    for batch in DataLoader(dataset, batch_size=batch_size):
        for key, values in _item_columns(batch).items():
            columns.setdefault(key, []).append(np.asarray(values))
    stacked = {key: np.concatenate(parts) for key, parts in columns.items()}
    return {
        "x": stacked.pop("x"),
        "mask": stacked.pop("mask", None),
        "static": _labels(stacked, "static"),
        "dynamic": _labels(stacked, "dynamic"),
    }


def _item_columns(batch: Any) -> dict[str, Any]:
    """One collated batch of dataset items as named columns (see :func:`dataset_arrays`)."""
    if isinstance(batch, dict):
        unknown = [k for k in batch if k not in ("x", "mask") and not k.startswith(KINDS)]
        if "x" not in batch or unknown:
            raise UnweaveError(
                f"Dataset items are dicts with keys {sorted(batch)}; expected 'x' and "
                "optionally 'mask', 'static_<name>' and 'dynamic_<name>'."
            )
        return batch
    if isinstance(batch, (list, tuple)):
        if len(batch) not in (1, 2):
            raise UnweaveError(
                f"Dataset items are tuples of {len(batch)}; expected x, (x,) or (x, label), "
                "or a dict with 'x', 'mask', 'static_<name>', 'dynamic_<name>'."
            )
        return {"x": batch[0], **({"static_label": batch[1]} if len(batch) == 2 else {})}
    return {"x": batch}


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
    unknown = [k for k in arrays if k not in ("x", "mask") and not k.startswith(KINDS)]
    if unknown:
        raise UnweaveError(
            f"{path} holds '{unknown[0]}'; expected x, mask, static_<name> and dynamic_<name>."
        )
    for key, values in arrays.items():
        if key.startswith(KINDS) and not np.issubdtype(values.dtype, np.integer):
            raise UnweaveError(f"{path}: '{key}' is {values.dtype}; expected integer labels.")
    return path, arrays


def _labels(arrays: dict[str, np.ndarray], kind: str) -> dict[str, np.ndarray]:
    """The ``<kind>_<name>`` arrays as int64 labels by name."""
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
                    if key.startswith(KINDS) and npz[key].size:
                        name = key.split("_", 1)[1]
                        sizes[name] = max(sizes.get(name, 0), int(npz[key].max()) + 1)
    return SequenceData(x, static, dynamic, sizes, "video-npz", split)
