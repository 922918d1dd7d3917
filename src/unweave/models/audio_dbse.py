"""DBSE for speech: 200 ms chunks of STFT magnitude frames, static speaker, dynamic content.

Reference code azencot-group/DBSE ``audio/model/dbse.py`` and ``train_and_eval_timit.py``
(facts in reference/dbse.md §3-4):

* input: one chunk = 3200 samples (200 ms) -> 20 frames x 201 raw linear-magnitude STFT
  bins (n_fft 400, window 320, hop 165 at 16 kHz, no normalisation); every utterance is cut
  into such chunks, the last zero-padded (``load_*(chunk_samples=3200, normalise=False)``
  in :mod:`unweave.data.speech`);
* frame features: a bidirectional LSTM (201 -> 201 per direction) and a Linear 402 -> 201
  per frame: the reference overwrites ``g_dim`` with ``fft_size // 2 + 1`` (``dbse.py:81``);
* the video model's subtraction bias on those features (static code from frame 0 only;
  the dynamic path, a 2-layer biLSTM 201 -> 128, reads ``h_t - h_0`` with fresh noise in
  slot 0), f = z = 128, prior and static MLP width 256; the static mean and log-variance
  heads are Linear + LeakyReLU(0.2) (``LinearUnit(..., False)``, ``dbse.py:101-102``);
* decoder: an LSTM (256 -> 201) over ``[z_t, f]``, then a Linear per frame;
* loss (sums / number of chunks): 20 SSE(chunk) + 100 SSE(the chunk decoded from ``[0, f]``,
  i.e. the static code alone) + KL(f) + KL(z); Adam lr 1e-3, 500 epochs;
* a batch is every chunk of 32 utterances (:meth:`AudioDBSE.training_items`), so an epoch
  is one pass over the utterances;
* initialisation: Linear weights N(0, 0.01), biases 0, LSTMs PyTorch's default
  (``dbse_model.apply(utils.init_weights)`` after construction,
  ``train_and_eval_timit.py:646``).

With these sizes the model holds 3,045,169 parameters, as the modules the reference's
forward uses (its unused ``mlp_encoder`` and ``z_rnn`` are left out).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from unweave.data.speech import UtteranceDataset
from unweave.data.timeseries import SeriesData
from unweave.models.base import SequentialVAEConfig
from unweave.models.dbse import DBSE


@dataclass
class AudioDBSEConfig(SequentialVAEConfig):
    """Sizes and loss weights; defaults are the reference TIMIT experiment."""

    n_features: int = 201  # STFT bins (n_fft 400)
    encoder_hidden: int = 201  # per direction of the frame biLSTM (the reference's g_dim)
    g_dim: int = 201  # fft_size // 2 + 1 in the reference, whatever its --g_dim says
    f_dim: int = 128
    z_dim: int = 128
    rnn_size: int = 256
    w_seq: float = 20.0  # SSE of the chunk
    w_static: float = 100.0  # SSE of the chunk decoded from [0, f]
    w_kl_static: float = 1.0
    w_kl_dynamic: float = 1.0
    static_head_activation: str = "leaky_relu"  # LinearUnit(rnn_size, f_dim, False)


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
        """A random batch of log spectrogram chunks ``x`` ``(batch_size, steps, n_features)``."""
        return {"x": torch.randn(batch_size, steps, self.config.n_features)}

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
