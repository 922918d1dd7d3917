"""DSVAE: the disentangled sequential autoencoder (Li & Mandt, ICML 2018), the baseline.

Static f from a bidirectional LSTM over ALL frames (last forward state and first backward
state); dynamics either "full", q(z_t | x_1:T, f) (bi-LSTM over [h_t, f], then a forward
RNN), "factorised", q(z_t | x_t), or "shared", q(z_t | x_1:T) from a forward RNN over the
static bi-LSTM's outputs (C-DSVAE ``model.py:150-163``; no f in the dynamic posterior). Plain ELBO: SSE + KL(f) + KL(z || learned LSTM prior).
It shares the frame encoder, decoder and dynamic prior with DBSE (``models/base.py``), so a
comparison between the two isolates the method.

From the reference code (yatindandi/Disentangled-Sequential-Autoencoder ``model.py``, and
JunwenBai/C-DSVAE ``model.py``): f 256 and z 32 (yatindandi ``model.py:126``); the static
mean and log-variance heads are Linear + LeakyReLU(0.2) (yatindandi ``model.py:149-150``,
C-DSVAE ``model.py:136-137``); the full posterior reads a sample of f in training and f's
mean at evaluation (``encode_f``/``encode_z`` reparameterise only when ``self.training``,
yatindandi ``model.py:260, 272``); the learned prior is C-DSVAE's, two LSTM cells of 256
(``model.py:129-130``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from unweave.errors import UnweaveError
from unweave.models.base import Latents, SequentialVAE, VideoVAEConfig
from unweave.nn.gaussian import GaussianHead

#: The dynamic posteriors a DSVAE may have (see :class:`DSVAEConfig`).
POSTERIORS = ("full", "factorised", "shared")


@dataclass
class DSVAEConfig(VideoVAEConfig):
    """DSVAE sizes; ``hidden_dim`` and ``rnn_size`` 256 as in the C-DSVAE Sprites code."""

    rnn_size: int = 256  # the LSTM prior: C-DSVAE's 2 cells x 256 (``model.py:129-130``)
    static_head_activation: str = "leaky_relu"  # LeakyReLU(0.2) on f's mean and log-variance
    hidden_dim: int = 256  # encoder LSTM hidden size
    # "full": q(z_t | x_1:T, f); "factorised": q(z_t | x_t); "shared": q(z_t | x_1:T), a
    # forward RNN over the static bi-LSTM's outputs (C-DSVAE's encoder).
    posterior: str = "full"
    w_seq: float = 1.0
    w_kl_static: float = 1.0
    w_kl_dynamic: float = 1.0


class DSVAE(SequentialVAE):
    """DSVAE for video: frames ``(B, T, C, H, W)`` -> static ``(B, f_dim)``, dynamic ``(B, T, z_dim)``."""

    name = "dsvae"
    config_class = DSVAEConfig

    def __init__(self, config: DSVAEConfig) -> None:
        super().__init__(config)
        c = config
        if c.posterior not in POSTERIORS:
            raise UnweaveError(
                f"model.posterior is '{c.posterior}'; expected one of: {', '.join(POSTERIORS)}."
            )
        self.static_lstm = nn.LSTM(c.g_dim, c.hidden_dim, 1, bidirectional=True, batch_first=True)
        self.static_head = GaussianHead(2 * c.hidden_dim, c.f_dim, c.static_head_activation)
        if c.posterior == "full":
            self.dynamic_lstm = nn.LSTM(
                c.g_dim + c.f_dim, c.hidden_dim, 1, bidirectional=True, batch_first=True
            )
        if c.posterior in ("full", "shared"):
            self.dynamic_rnn = nn.RNN(2 * c.hidden_dim, c.hidden_dim, batch_first=True)
        else:
            self.dynamic_mlp = nn.Sequential(nn.Linear(c.g_dim, c.hidden_dim), nn.LeakyReLU(0.2))
        self.dynamic_head = GaussianHead(c.hidden_dim, c.z_dim)
        self.reset_parameters()

    def encode(self, x: torch.Tensor) -> Latents:
        """Frames ``(B, T, C, H, W)`` -> static ``(B, f_dim)`` and dynamic ``(B, T, z_dim)``
        Gaussians; the full posterior is conditioned on a sample of f in training and on f's
        mean at evaluation."""
        c: DSVAEConfig = self.config  # type: ignore[assignment]
        h = self.frame_features(x)
        lstm_out, _ = self.static_lstm(h)
        summary = torch.cat([lstm_out[:, -1, : c.hidden_dim], lstm_out[:, 0, c.hidden_dim :]], -1)
        static = self.static_head(summary)
        extras = {}
        if c.posterior == "full":
            f = static.sample() if self.training else static.mean
            inputs = torch.cat([h, f[:, None].expand(-1, h.shape[1], -1)], dim=-1)
            features, _ = self.dynamic_rnn(self.dynamic_lstm(inputs)[0])
            if self.training:  # the decoder reads this same f (yatindandi model.py:277-281)
                extras["static_sample"] = f
        elif c.posterior == "shared":
            features, _ = self.dynamic_rnn(lstm_out)
        else:
            features = self.dynamic_mlp(h)
        return Latents(static=static, dynamic=self.dynamic_head(features), extras=extras)

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c: DSVAEConfig = self.config  # type: ignore[assignment]
        terms, _, _ = self.elbo_terms(x)
        total = (
            c.w_seq * terms["sse_seq"]
            + c.w_kl_static * terms["kl_static"]
            + c.w_kl_dynamic * terms["kl_dynamic"]
        )
        return {"loss": total, **{k: v.detach() for k, v in terms.items()}}
