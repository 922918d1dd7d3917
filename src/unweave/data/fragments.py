"""Samples made of fragments that share one style: the data of content/style methods (V3,
Two-Step).

A sample is ``n`` fragments (digits written in one colour, notes played on one instrument);
each fragment has its own *content* label (the digit, the pitch) and the sample one *style*
label (the colour, the instrument).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from unweave.errors import UnweaveError


@dataclass
class FragmentData:
    """One split of a fragment data set.

    Attributes:
        x: ``(N, n, C, H, W)`` float32 fragments (images in [0, 1]; spectrograms as
            normalised log magnitudes with ``C = 1``, ``H`` = frequency bins, ``W`` = frames).
        content: ``(N, n)`` int64 content label of every fragment.
        style: ``(N,)`` int64 style label of every sample.
        name: data set name, e.g. ``"coloured-digits"``.
        split: ``"train"``, ``"valid"``, ``"test"`` or ``"ood"`` (held-out styles).
        meta: ``value_names`` ``{"content": [...], "style": [...]}`` and anything else.
    """

    x: np.ndarray
    content: np.ndarray
    style: np.ndarray
    name: str
    split: str
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"{self.name}/{self.split}"
        if self.x.ndim != 5:
            raise UnweaveError(f"{where}: x has shape {self.x.shape}; expected (N, n, C, H, W).")
        if self.content.shape != self.x.shape[:2]:
            raise UnweaveError(
                f"{where}: content has shape {self.content.shape}; expected {self.x.shape[:2]}."
            )
        if self.style.shape != self.x.shape[:1]:
            raise UnweaveError(
                f"{where}: style has shape {self.style.shape}; expected ({len(self.x)},)."
            )

    def __len__(self) -> int:
        return len(self.x)

    def fragments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every fragment on its own: x ``(N * n, C, H, W)``, content and style ``(N * n,)``."""
        n = self.x.shape[1]
        return (
            self.x.reshape(-1, *self.x.shape[2:]),
            self.content.reshape(-1),
            np.repeat(self.style, n),
        )


class FragmentTorchDataset(torch.utils.data.Dataset):
    """Serves ``{"x": float32 (n, C, H, W), "content": (n,), "style": (), "index": ()}``."""

    def __init__(self, data: FragmentData) -> None:
        x = np.ascontiguousarray(data.x, dtype=np.float32)
        self.x = torch.from_numpy(x if x.flags.writeable else x.copy())
        self.content = torch.from_numpy(data.content.astype(np.int64))
        self.style = torch.from_numpy(data.style.astype(np.int64))

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {
            "x": self.x[index],
            "content": self.content[index],
            "style": self.style[index],
            "index": torch.tensor(index),
        }
