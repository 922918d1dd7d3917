"""DBSE: sequential disentanglement by extracting static information from a single element.

Berman, Naiman, Arbiv, Fadlon, Azencot, ICML 2024 (arXiv 2406.18131); reference code
azencot-group/DBSE ``video/model/dbse_model.py`` (facts in reference/dbse.md §2):

* static posterior from frame 0 ONLY: Linear(g -> rnn_size) + Tanh, then mean/log-var heads;
* subtraction bias: the dynamic inputs are ``h_t - h_0`` for t >= 1 and fresh N(0, I) noise in
  slot 0, read by a 2-layer bidirectional LSTM (hidden ``z_dim``) and a Gaussian head;
* loss (sums / batch): 5 SSE(sequence) + 1 SSE(frame 0 decoded again from [z_0, f])
  + KL(q(f) || N(0, I)) + KL(q(z) || learned LSTM prior), closed form per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from unweave.models.base import Latents, SequentialVAE, VideoVAEConfig
from unweave.nn.gaussian import GaussianHead


@dataclass
class DBSEConfig(VideoVAEConfig):
    """DBSE sizes and loss weights; defaults are the reference ``sprites_hyperparameters.py``."""

    w_seq: float = 5.0  # weight of the SSE of the whole reconstructed sequence
    w_frame: float = 1.0  # weight of the SSE of frame 0 decoded from [z_0, f]
    w_kl_static: float = 1.0
    w_kl_dynamic: float = 1.0


class DBSE(SequentialVAE):
    """DBSE for video: frames ``(B, T, C, H, W)`` -> static ``(B, f_dim)``, dynamic ``(B, T, z_dim)``."""

    name = "dbse"
    config_class = DBSEConfig

    def __init__(self, config: DBSEConfig) -> None:
        super().__init__(config)
        c = config
        self.static_features = nn.Sequential(nn.Linear(c.g_dim, c.rnn_size), nn.Tanh())
        self.static_head = GaussianHead(c.rnn_size, c.f_dim, c.static_head_activation)
        self.dynamic_lstm = nn.LSTM(c.g_dim, c.z_dim, 2, bidirectional=True, batch_first=True)
        self.dynamic_head = GaussianHead(2 * c.z_dim, c.z_dim)
        self.reset_parameters()

    def encode(self, x: torch.Tensor) -> Latents:
        h = self.frame_features(x)
        h0 = h[:, 0]
        static = self.static_head(self.static_features(h0))
        # Subtraction bias: what frame t adds to frame 0; slot 0 carries only noise.
        residual = h[:, 1:] - h0[:, None]
        slot0 = torch.randn_like(h0)[:, None]
        dynamic_features, _ = self.dynamic_lstm(torch.cat([slot0, residual], dim=1))
        return Latents(static=static, dynamic=self.dynamic_head(dynamic_features))

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c: DBSEConfig = self.config  # type: ignore[assignment]
        terms, f, z = self.elbo_terms(x)
        recon_frame0 = self.decode(f, z[:, :1])[:, 0]  # the reference's second decoder pass
        terms["sse_frame0"] = (recon_frame0 - x[:, 0]).pow(2).sum() / x.shape[0]
        total = (
            c.w_seq * terms["sse_seq"]
            + c.w_frame * terms["sse_frame0"]
            + c.w_kl_static * terms["kl_static"]
            + c.w_kl_dynamic * terms["kl_dynamic"]
        )
        return {"loss": total, **{k: v.detach() for k, v in terms.items()}}
