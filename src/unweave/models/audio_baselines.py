"""The sequential baselines on speech: C-DSVAE, SPYL and SKD on spectrogram chunks.

Each paper reports TIMIT speaker-verification EERs, but none of their repositories holds
speech code (C-DSVAE and SPYL are Sprites only; SKD's first commit, 06b620e, had a TIMIT
branch of one LSTM from the 201 STFT bins to the latent and one back). The one executable
speech reference of this line of work is DBSE's (same authors as SPYL and SKD), so each
method here keeps its own posterior, prior and loss and reads DBSE's speech front end
(:mod:`unweave.models.spectrogram`): 200 ms chunks of 20 raw STFT frames of 201 bins, a
bi-LSTM + Linear per frame in, an LSTM + Linear per frame out, f = z = 128 as DBSE's TIMIT
model. C-DSVAE's motion view of speech is :func:`unweave.nn.views.reshape_spectrum`. These
are choices of unweave, listed in ``docs/methods.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from unweave.models.cdsvae import CDSVAE, CDSVAEConfig
from unweave.models.skd import SKD, SKDConfig
from unweave.models.spectrogram import (
    SpectrogramEncoder,
    SpectrogramIO,
    SpectrogramModel,
    SpectrogramSizes,
)
from unweave.models.spyl import SPYL, SPYLConfig
from unweave.nn.views import reshape_spectrum

#: DBSE's TIMIT sizes (reference/dbse.md §3), which the speech baselines take over.
SPEECH_SIZES = {"g_dim": 201, "f_dim": 128, "z_dim": 128, "hidden_dim": 256, "rnn_size": 256}


@dataclass
class AudioCDSVAEConfig(CDSVAEConfig, SpectrogramSizes):
    """C-DSVAE's terms on DBSE's speech front end and sizes."""

    g_dim: int = SPEECH_SIZES["g_dim"]
    f_dim: int = SPEECH_SIZES["f_dim"]
    z_dim: int = SPEECH_SIZES["z_dim"]
    spectrum_strength: float = 1.0  # the motion view's +- 0.5 log-gain range, scaled


class AudioCDSVAE(SpectrogramModel, CDSVAE):
    """C-DSVAE on spectrogram chunks ``(B, T, F)``: the content view shuffles the frames, the
    motion view reshapes the spectrum."""

    config_class = AudioCDSVAEConfig

    def motion_view(self, x: torch.Tensor) -> torch.Tensor:
        return reshape_spectrum(x, self.config.spectrum_strength)


@dataclass
class AudioSPYLConfig(SPYLConfig, SpectrogramSizes):
    """SPYL's terms on DBSE's speech front end and sizes."""

    g_dim: int = SPEECH_SIZES["g_dim"]
    f_dim: int = SPEECH_SIZES["f_dim"]
    z_dim: int = SPEECH_SIZES["z_dim"]


class AudioSPYL(SpectrogramModel, SPYL):
    """SPYL on spectrogram chunks ``(B, T, F)``: its views are the model's own, as on video."""

    config_class = AudioSPYLConfig


@dataclass
class AudioSKDConfig(SKDConfig, SpectrogramSizes):
    """SKD's Koopman latent and terms on spectrogram chunks (k and the split as on Sprites)."""


class AudioSKD(SpectrogramIO, SKD):
    """SKD on spectrogram chunks ``(B, T, F)``: the frame bi-LSTM + Linear to ``k_dim``
    before SKD's encoder LSTM, a Linear per frame after its decoder LSTM (the first commit's
    LSTMs alone cannot output raw magnitudes above 1)."""

    config_class = AudioSKDConfig

    def build_coders(self, config: AudioSKDConfig) -> tuple[nn.Module, nn.Module]:
        c = config
        encoder = SpectrogramEncoder(c.n_features, c.encoder_hidden, c.k_dim)
        return encoder, nn.Linear(c.hidden_dim, c.n_features)

    def frame_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.frame_encoder(x)

    def frames_of(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.frame_decoder(hidden)
