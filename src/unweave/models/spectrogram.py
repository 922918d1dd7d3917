"""The speech front end the sequential VAEs share on spectrogram chunks (DBSE's audio model,
reference azencot-group/DBSE ``audio/model/dbse.py``; see :mod:`unweave.models.audio_dbse`).

A frame encoder (a bidirectional LSTM over the frames, then a Linear per frame), a frame
decoder (an LSTM over the codes, then a Linear per frame), batches of every chunk of a few
utterances, and the model contract's I/O for chunks ``(B, T, n_features)``. A sequential VAE
becomes a speech model by putting :class:`SpectrogramModel` first among its bases and
:class:`SpectrogramSizes` among its config's; a model with coders of its own (SKD) takes the
I/O only (:class:`SpectrogramIO`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from unweave.data.speech import UtteranceDataset
from unweave.data.timeseries import SeriesData


@dataclass
class SpectrogramSizes:
    """The front end's sizes: DBSE's TIMIT model (raw STFT magnitudes, n_fft 400)."""

    n_features: int = 201  # frequency bins; set from the training data
    encoder_hidden: int = 201  # per direction of the frame bi-LSTM


class SpectrogramEncoder(nn.Module):
    """Frames ``(B, T, n_features)`` -> features ``(B, T, g_dim)``: biLSTM, then Linear."""

    def __init__(self, n_features: int, hidden: int, g_dim: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_features, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, g_dim)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.out(self.lstm(frames)[0])


class SpectrogramDecoder(nn.Module):
    """Codes ``(B, T, code_dim)`` -> frames ``(B, T, n_features)``: LSTM, then Linear."""

    def __init__(self, code_dim: int, n_features: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(code_dim, n_features, batch_first=True)
        self.out = nn.Linear(n_features, n_features)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.out(self.lstm(codes)[0])


class SpectrogramIO:
    """Mixin: a model's data on spectrogram chunks ``(B, T, n_features)`` (batches of every
    chunk of a few utterances)."""

    modality: ClassVar[str] = "audio"

    @staticmethod
    def settings_from_data(data: SeriesData) -> dict[str, int]:
        """The setting the training segments fix: the number of frequency bins."""
        return {"n_features": int(data.x.shape[2])}

    @staticmethod
    def training_items(data: SeriesData) -> tuple[UtteranceDataset, Callable] | None:
        """Training items are utterances, a batch all their chunks (the reference's batch of
        32 files); None (single chunks) for rows without ``groups["utterance"]``."""
        if "utterance" not in data.groups:
            return None
        return UtteranceDataset(data), UtteranceDataset.collate

    def batch_inputs(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor]:
        """A loader batch -> ``(x,)``: chunks of frames ``(B, T, F)``."""
        return (batch["x"].float(),)

    def example_batch(self, batch_size: int = 2, steps: int = 8) -> dict[str, torch.Tensor]:
        """A random batch of spectrogram chunks ``x`` ``(batch_size, steps, n_features)``."""
        return {"x": torch.randn(batch_size, steps, self.config.n_features)}


class SpectrogramModel(SpectrogramIO):
    """Mixin: a sequential VAE's frame coders and I/O on spectrogram chunks."""

    def build_coders(self, config: SpectrogramSizes) -> tuple[nn.Module, nn.Module]:
        encoder = SpectrogramEncoder(config.n_features, config.encoder_hidden, config.g_dim)
        return encoder, SpectrogramDecoder(config.f_dim + config.z_dim, config.n_features)

    def frame_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.frame_encoder(x)

    def decode(self, static: torch.Tensor, dynamic: torch.Tensor) -> torch.Tensor:
        """Static ``(B, F)`` and dynamic ``(B, T, Z)`` codes -> frames ``(B, T, n_features)``."""
        t = dynamic.shape[1]
        codes = torch.cat([dynamic, static[:, None].expand(-1, t, -1)], dim=-1)
        return self.frame_decoder(codes)
