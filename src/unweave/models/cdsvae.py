"""C-DSVAE: the contrastively disentangled sequential VAE (Bai, Wang & Gomes, NeurIPS 2021,
arXiv 2110.12091); reference code JunwenBai/C-DSVAE.

DSVAE with its "shared" posterior (``model.py:144-178``: one bidirectional LSTM over the
frame features; f from its last forward and first backward states through Linear +
LeakyReLU(0.2) heads; z from a forward RNN over its outputs, not conditioned on f), the
learned LSTM prior (``model.py:129-133``), and three more terms (``train_cdsvae.py:70-147``):

* InfoNCE between f's mean and the f mean of the content view (the frames shuffled), and
  between z's means (flattened over time) and those of the motion view (the frames
  recoloured alike): NT-Xent, cosine similarity, temperature 0.5, weight 10 each
  (``run_cdsvae.sh``); the views are made by :mod:`unweave.nn.views`;
* a penalty on I(f; z_t), ReLU(log q(f, z_t) - log q(f) - log q(z_t)) over the batch, added
  with weight 1 (:func:`unweave.nn.mutual_information.static_dynamic_mi`);
* the ELBO as DSVAE's: SSE of the clip + KL(f) + KL(z || prior), sums / batch.

Sizes (``train_cdsvae.py:45-49`` with ``run_cdsvae.sh``): g 128, f 256, z 32, LSTMs 256.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unweave.models.base import Latents
from unweave.models.dsvae import DSVAE, DSVAEConfig
from unweave.nn.mutual_information import (
    MIPenaltySettings,
    info_nce,
    static_dynamic_mi,
    training_set_size,
)
from unweave.nn.views import distort_colours, shuffle_frames


@dataclass
class PenalisedConfig(DSVAEConfig, MIPenaltySettings):
    """What C-DSVAE, SPYL and S3VAE share: the network of C-DSVAE's Sprites run (whose
    backbone S3VAE's code has and SPYL's copies) and the MI penalty's settings."""

    g_dim: int = 128  # run_cdsvae.sh keeps argparse's 128 (train_cdsvae.py:49)
    f_dim: int = 256  # train_cdsvae.py:47
    z_dim: int = 32  # train_cdsvae.py:48
    hidden_dim: int = 256  # --rnn_size: the bi-LSTM, the z RNN ...
    rnn_size: int = 256  # ... and the prior's cells
    posterior: str = "shared"


@dataclass
class CDSVAEConfig(PenalisedConfig):
    """C-DSVAE sizes and weights; defaults are the reference's Sprites run."""

    w_content: float = 10.0  # --weight_c_aug: InfoNCE(f, f of the shuffled frames)
    w_motion: float = 10.0  # --weight_m_aug: InfoNCE(z, z of the recoloured frames)
    temperature: float = 0.5  # contrastive_loss(tau=0.5, normalize=True), line 232
    colour_strength: float = 1.0  # SimCLR's s of the motion view's colour jitter


class CDSVAE(DSVAE):
    """C-DSVAE for video: frames ``(B, T, C, H, W)`` -> static ``(B, f_dim)``, dynamic
    ``(B, T, z_dim)``; the loss adds two contrastive terms and an MI penalty to the ELBO."""

    name = "c-dsvae"
    config_class = CDSVAEConfig
    settings_from_data = staticmethod(training_set_size)  # N of the MI estimate

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c: CDSVAEConfig = self.config  # type: ignore[assignment]
        terms, latents, _, total = penalised_elbo(self, x)
        content_view = self.encode(shuffle_frames(x)).static.mean
        motion_view = self.encode(self.motion_view(x)).dynamic.mean
        terms["nce_content"] = info_nce(latents.static.mean, content_view, c.temperature)
        terms["nce_motion"] = info_nce(
            latents.dynamic.mean.flatten(1), motion_view.flatten(1), c.temperature
        )
        total = total + c.w_content * terms["nce_content"] + c.w_motion * terms["nce_motion"]
        return {"loss": total, **{k: v.detach() for k, v in terms.items()}}

    def motion_view(self, x: torch.Tensor) -> torch.Tensor:
        """The view that keeps the motion: the frames recoloured alike (SimCLR's)."""
        return distort_colours(x, self.config.colour_strength)


def penalised_elbo(
    model: DSVAE, x: torch.Tensor
) -> tuple[dict[str, torch.Tensor], Latents, torch.Tensor, torch.Tensor]:
    """What C-DSVAE, SPYL and S3VAE share: the ELBO's terms and the MI penalty on f and z,
    the posteriors of ``x``, the z sample ``(B, T, Z)`` decoded and the weighted sum
    (``w_seq``, ``w_kl_static``, ``w_kl_dynamic``, ``w_mi`` of the model's config)."""
    c = model.config
    latents = model.encode(x)
    terms, f, z = model.elbo_terms(x, latents)
    terms["mi_static_dynamic"] = static_dynamic_mi(
        f, latents.static, z, latents.dynamic, c.dataset_size, c.mi_logvar_as_log_std
    )
    total = (
        c.w_seq * terms["sse_seq"]
        + c.w_kl_static * terms["kl_static"]
        + c.w_kl_dynamic * terms["kl_dynamic"]
        + c.w_mi * terms["mi_static_dynamic"]
    )
    return terms, latents, z, total
