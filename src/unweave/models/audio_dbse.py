"""DBSE for speech: 200 ms chunks of STFT magnitude frames, static speaker, dynamic content.

Reference code azencot-group/DBSE ``audio/model/dbse.py`` and ``train_and_eval_timit.py``
(facts in reference/dbse.md §3-4):

* input: one chunk = 20 frames x 201 linear-magnitude STFT bins (n_fft 400, window 320,
  hop 165 at 16 kHz; :mod:`unweave.data.audio`);
* frame features: a bidirectional LSTM (201 -> 128 per direction) and a Linear to 128 per
  frame;
* the video model's subtraction bias on those features (static code from frame 0 only;
  the dynamic path reads ``h_t - h_0`` with fresh noise in slot 0), f = z = 128, prior and
  static MLP width 256;
* decoder: an LSTM (256 -> 201) over ``[z_t, f]``, then a Linear per frame;
* loss (sums / batch): 20 SSE(chunk) + 100 SSE(the chunk decoded from ``[0, f]``, i.e. the
  static code alone) + KL(f) + KL(z); Adam lr 1e-3, batch 32, 500 epochs.

Weights keep PyTorch's default initialisation: the reference applies its N(0, 0.01)
initialisation to the video model only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from unweave.data.timeseries import SeriesData
from unweave.models.base import SequentialVAEConfig
from unweave.models.dbse import DBSE


@dataclass
class AudioDBSEConfig(SequentialVAEConfig):
    """Sizes and loss weights; defaults are the reference TIMIT experiment."""

    n_features: int = 201  # STFT bins (n_fft 400)
    encoder_hidden: int = 128  # per direction of the frame biLSTM
    g_dim: int = 128
    f_dim: int = 128
    z_dim: int = 128
    rnn_size: int = 256
    w_seq: float = 20.0  # SSE of the chunk
    w_static: float = 100.0  # SSE of the chunk decoded from [0, f]
    w_kl_static: float = 1.0
    w_kl_dynamic: float = 1.0


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


class AudioDBSE(DBSE):
    """DBSE on spectrogram chunks ``(B, T, F)`` -> static ``(B, f_dim)``, dynamic ``(B, T, z_dim)``."""

    modality: ClassVar[str] = "audio"
    config_class = AudioDBSEConfig

    @staticmethod
    def settings_from_data(data: SeriesData) -> dict[str, int]:
        """The setting the training segments fix: the number of frequency bins."""
        return {"n_features": int(data.x.shape[2])}

    def build_coders(self, config: AudioDBSEConfig) -> tuple[nn.Module, nn.Module]:
        encoder = SpectrogramEncoder(config.n_features, config.encoder_hidden, config.g_dim)
        return encoder, SpectrogramDecoder(config.f_dim + config.z_dim, config.n_features)

    def reset_parameters(self) -> None:
        """Keep PyTorch's initialisation, as the reference audio model does."""

    def batch_inputs(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor]:
        """A loader batch -> ``(x,)``: normalised frames ``(B, T, F)``."""
        return (batch["x"].float(),)

    def frame_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.frame_encoder(x)

    def decode(self, static: torch.Tensor, dynamic: torch.Tensor) -> torch.Tensor:
        """Static ``(B, F)`` and dynamic ``(B, T, Z)`` codes -> frames ``(B, T, n_features)``."""
        t = dynamic.shape[1]
        codes = torch.cat([dynamic, static[:, None].expand(-1, t, -1)], dim=-1)
        return self.frame_decoder(codes)

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c: AudioDBSEConfig = self.config  # type: ignore[assignment]
        terms, f, z = self.elbo_terms(x)
        static_only = self.decode(f, torch.zeros_like(z))
        terms["sse_static"] = (static_only - x).pow(2).sum() / x.shape[0]
        total = (
            c.w_seq * terms["sse_seq"]
            + c.w_static * terms["sse_static"]
            + c.w_kl_static * terms["kl_static"]
            + c.w_kl_dynamic * terms["kl_dynamic"]
        )
        return {"loss": total, **{k: v.detach() for k, v in terms.items()}}
