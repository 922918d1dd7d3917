"""Segments at random starts, redrawn every pass: FHVAE's ``rand_seg`` (both reference codes).

ScalableFHVAE's ``make_segs`` (``fhvae/datasets/seg_dataset.py``) gives each sequence of
``l`` frames ``(l - seg_len) // seg_shift + 1`` segments per pass, their starts drawn
uniformly, with replacement, from ``0 .. l - seg_len``; FactorizedHierarchicalVAE does the
same with shift 20. Speech loaders here store fixed segments cut every ``meta["shift"]``
frames (:mod:`unweave.data.speech`); :class:`RandomSegments` joins them back into each
utterance's frames and serves a segment at any start. An utterance keeps its stored segment
count per pass (the reference's count at this shift); the frames after its last stored
segment (fewer than ``shift``) are not reached, which the fixed cut drops too.
"""

from __future__ import annotations

import numpy as np
import torch

from unweave.data.timeseries import SeriesData
from unweave.errors import UnweaveError


class RandomSegments(torch.utils.data.Dataset):
    """Every segment start of every utterance: item ``i`` is
    ``{"x": float32 (segment, F), "sequence": int64, "index": int64}``.

    Items of utterance ``u`` are ``offsets[u] .. offsets[u] + n_starts[u] - 1``, one per
    start frame; :meth:`draw` picks a pass's segments among them.
    """

    def __init__(self, data: SeriesData) -> None:
        utterance = data.groups.get("utterance")
        shift, segment = data.meta.get("shift"), data.x.shape[1]
        if utterance is None or shift is None or data.meta.get("chunk_samples") is not None:
            raise UnweaveError(
                f"Random segment starts need segments cut from utterances every "
                f"meta['shift'] frames (a speech data set's FHVAE segments); '{data.name}' "
                "has no groups['utterance'], no shift, or wave chunks."
            )
        utterance = np.asarray(utterance, dtype=np.int64)
        if shift > segment or (np.diff(utterance) < 0).any():
            raise UnweaveError(
                f"Random segment starts need each utterance's segments in time order, "
                f"overlapping or touching (shift {shift} <= segment {segment}); "
                f"'{data.name}' has shift {shift} or utterances out of order."
            )
        #: Stored segments per utterance ``(U,)``: a pass draws as many.
        self.counts = np.bincount(utterance)
        first = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        # Utterance frames: the first segment whole, then the last `shift` frames of each next.
        frames_of = np.full(len(utterance), shift)  # frames each stored row adds
        frames_of[first] = segment
        starts_in_flat = np.concatenate([[0], np.cumsum(frames_of)[:-1]])
        row = np.repeat(np.arange(len(utterance)), frames_of)
        frame = segment - frames_of[row] + np.arange(len(row)) - starts_in_flat[row]
        self.frames = torch.from_numpy(np.asarray(data.x[row, frame], dtype=np.float32))
        self.segment = int(segment)
        self.first_frame = starts_in_flat[first]
        self.n_starts = (self.counts - 1) * shift + 1
        self.offsets = np.concatenate([[0], np.cumsum(self.n_starts)[:-1]])

    def __len__(self) -> int:
        return int(self.n_starts.sum())

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        u = int(np.searchsorted(self.offsets, index, side="right")) - 1
        start = int(self.first_frame[u] + index - self.offsets[u])
        return {
            "x": self.frames[start : start + self.segment],
            "sequence": torch.tensor(u),
            "index": torch.tensor(index),
        }

    def draw(self, utterances: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One pass's items ``(sum counts[utterances],)``: each utterance's stored count of
        starts, uniform over its starts with replacement (as ``make_segs``)."""
        utterances = np.asarray(utterances, dtype=np.int64)
        owner = np.repeat(utterances, self.counts[utterances])
        return self.offsets[owner] + rng.integers(0, self.n_starts[owner])

    def segments(self, items: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The segments ``(n, segment, F)`` and utterances ``(n,)`` of ``items`` ``(n,)``."""
        batch = [self[int(i)] for i in items]
        return torch.stack([b["x"] for b in batch]), torch.stack([b["sequence"] for b in batch])
