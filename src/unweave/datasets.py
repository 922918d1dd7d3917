"""The data sets by name: list them, load a split, register your own.

unweave.datasets.available()                      # ['toy-sprites', 'sprites', ...]
train = unweave.datasets.load("etth1", "train", root="data/ett")
"""

from __future__ import annotations

from typing import Any

from unweave.data.registry import DATASETS, DataSet, dataset, load_data, register

__all__ = ["DataSet", "available", "info", "load", "register"]


def available(modality: str | None = None) -> list[str]:
    """The names of the registered data sets (of one ``modality``, if given)."""
    return [n for n, entry in DATASETS.items() if modality in (None, entry.modality)]


def info(name: str) -> DataSet:
    """The table entry of ``name``: modality, description, licence, files, options()."""
    return dataset(name)


def load(name: str, split: str = "train", root: str | None = None, **options: Any) -> Any:
    """Split ``split`` of data set ``name`` (``root``: its files; ``options``: ``data.options``)."""
    return load_data(name, split, root, **options)
