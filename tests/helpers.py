"""Helpers shared by the tests (importable as `helpers`)."""

from __future__ import annotations

import numpy as np

from unweave.data.base import SequenceData

#: A model small enough to train in seconds on 16x16 frames.
TINY_MODEL = [
    "model.image_size=16",
    "model.base_channels=8",
    "model.g_dim=32",
    "model.f_dim=16",
    "model.z_dim=8",
    "model.rnn_size=16",
]


def random_clips(n: int = 48, size: int = 16, seed: int = 0) -> SequenceData:
    """Random uint8 clips ``(n, 8, 3, size, size)`` with one static and one dynamic label."""
    rng = np.random.default_rng(seed)
    return SequenceData(
        x=rng.integers(0, 256, (n, 8, 3, size, size), dtype=np.uint8),
        static={"colour": rng.integers(0, 6, n)},
        dynamic={"action": rng.integers(0, 9, n)},
        factor_sizes={"colour": 6, "action": 9},
        name="random",
        split="train",
    )
