"""The data contract shared by every data family.

A data set is arrays plus a description of its factors (see DESIGN.md):
``x`` is ``(N, T, C, H, W)`` uint8 for video, ``static`` maps factor name to an int array
``(N,)``, ``dynamic`` maps factor name to an int array ``(N,)``. Large arrays are memmaps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from unweave.errors import UnweaveError


@dataclass
class SequenceData:
    """One split of a labelled sequence data set.

    Attributes:
        x: ``(N, T, C, H, W)`` uint8 video frames (a memmap for large sets).
        static: factor name -> ``(N,)`` int64 labels of what stays fixed in a clip.
        dynamic: factor name -> ``(N,)`` int64 labels of what moves.
        factor_sizes: factor name -> number of values, for every static and dynamic factor.
        value_names: factor name -> readable names of the values (optional).
        name: data set name, e.g. ``"sprites"``.
        split: ``"train"`` or ``"test"``.
    """

    x: np.ndarray
    static: dict[str, np.ndarray]
    dynamic: dict[str, np.ndarray]
    factor_sizes: dict[str, int]
    name: str
    split: str
    value_names: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.x.ndim != 5:
            raise UnweaveError(
                f"{self.name}/{self.split}: x has shape {tuple(self.x.shape)}; "
                "expected (N, T, C, H, W)."
            )
        n = len(self.x)
        for kind, labels in (("static", self.static), ("dynamic", self.dynamic)):
            for key, values in labels.items():
                if values.shape != (n,):
                    raise UnweaveError(
                        f"{self.name}/{self.split}: {kind} factor '{key}' has shape "
                        f"{values.shape}; expected ({n},) to match x."
                    )
                if key not in self.factor_sizes:
                    raise UnweaveError(
                        f"{self.name}/{self.split}: factor '{key}' has no entry in factor_sizes."
                    )

    def __len__(self) -> int:
        return len(self.x)

    @property
    def seq_len(self) -> int:
        return int(self.x.shape[1])

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one frame."""
        return tuple(int(s) for s in self.x.shape[2:])  # type: ignore[return-value]


class SequenceTorchDataset(torch.utils.data.Dataset):
    """Serves batches of ``{"x": uint8 (B,T,C,H,W), "static": (B,S) long, "dynamic": (B,D) long}``.

    Whole batches are read from the (memmapped) array in one sorted fancy-index through
    ``__getitems__``, which the PyTorch DataLoader calls with the batch's indices; the uint8
    to float conversion happens on the training device, so a loader needs no workers.
    """

    def __init__(self, data: SequenceData) -> None:
        self.data = data
        self.static_names = list(data.static)
        self.dynamic_names = list(data.dynamic)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.__getitems__([index]).items()}

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        order = np.argsort(indices)
        sorted_idx = np.asarray(indices)[order]
        frames = np.asarray(self.data.x[sorted_idx])[np.argsort(order)]
        idx = np.asarray(indices)

        def stack(labels: dict[str, np.ndarray], names: list[str]) -> torch.Tensor:
            if not names:
                return torch.zeros((len(idx), 0), dtype=torch.long)
            return torch.from_numpy(np.stack([labels[n][idx] for n in names], 1).astype(np.int64))

        return {
            "x": torch.from_numpy(frames),
            "static": stack(self.data.static, self.static_names),
            "dynamic": stack(self.data.dynamic, self.dynamic_names),
        }


def collate_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The collate function for :class:`SequenceTorchDataset` (batches arrive ready-made)."""
    return batch
