"""S3VAE: the self-supervised sequential VAE (Zhu, Min, Kadav & Graf, CVPR 2020, arXiv
2005.11437). No official code is published; unweave follows the paper and the authors'
research code as vendored in jithendaraa/ODE-RL 0d4c701 ("Add OG S3VAE code",
``code_sprite/``: ``models/DS_VAE.py`` class ``DisentangledVAE_ICLR_V1``,
``train_DS_VAE_sprite.py``), whose backbone C-DSVAE later reused line for line.

DSVAE's ``shared`` posterior (a bi-LSTM over the frame features; f from its end states
through Linear + LeakyReLU(0.2) heads; z_t from a forward RNN over its outputs), the learned
LSTM prior, and three self-supervised terms (``train_DS_VAE_sprite.py:142-244``):

* static consistency: a triplet loss (margin 1, Euclidean) on f's means, the positive the
  clip with its frames shuffled, the negative another clip; weight 100;
* dynamic factor prediction: from each z_t sample, which cells of a 3x3 grid move (binary
  cross-entropy, weight 0.1) and, for the moving ones, the direction of their optical flow in
  8 bins (cross-entropy, one head per cell, weight 0.1); the flow labels are computed from
  the frames (:mod:`unweave.nn.motion`): the authors' precomputed ones
  (``dsprite_train_OF_Label_3block.pkl``, training split only) are committed as a large file
  that could not be retrieved, and how they were made is not in the code;
* the MI penalty on f and z_t (the batch estimator C-DSVAE later took over), weight 0.01.

Marked choices of unweave (the paper's method section could not be read here): see the
S3VAE faithfulness table in ``docs/methods.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from unweave.models.cdsvae import PenalisedConfig, penalised_elbo
from unweave.models.dsvae import DSVAE
from unweave.nn.motion import motion_labels
from unweave.nn.mutual_information import training_set_size
from unweave.nn.views import shuffle_frames


@dataclass
class S3VAEConfig(PenalisedConfig):
    """S3VAE weights; defaults are the authors' Sprites code's argparse (its network,
    ``train_DS_VAE_sprite.py:38-50``, is the one C-DSVAE took over)."""

    static_head_activation: str = "leaky_relu"  # LinearUnit(512, 256, False): DS_VAE.py:1009
    w_triplet: float = 100.0  # --weight_triple (train:53-60)
    margin: float = 1.0  # nn.TripletMarginLoss(margin=1.0, p=2) (train:138)
    w_area: float = 0.1  # which grid cells move
    w_direction: float = 0.1  # which way the moving ones go
    w_mi: float = 0.01
    grid: int = 3  # the 3x3 grid of the flow labels ("_3block")
    direction_bins: int = 8
    motion_threshold: float = 0.5  # pixels of flow (at image_size) for a cell to move
    # Linear(z, w) -> LeakyReLU(0.2) -> Linear(w, out); None: w = 2 z_dim (DS_VAE.py:1017-1036)
    head_width: int | None = None


def prediction_head(z_dim: int, width: int, outputs: int) -> nn.Sequential:
    """``Linear(z_dim, width) -> LeakyReLU(0.2) -> Linear(width, outputs)``."""
    return nn.Sequential(nn.Linear(z_dim, width), nn.LeakyReLU(0.2), nn.Linear(width, outputs))


class S3VAE(DSVAE):
    """S3VAE for video: frames ``(B, T, C, H, W)`` -> static ``(B, f_dim)``, dynamic
    ``(B, T, z_dim)``; the loss adds a triplet on f, motion prediction from z and an MI
    penalty to the ELBO."""

    name = "s3vae"
    config_class = S3VAEConfig
    settings_from_data = staticmethod(training_set_size)

    def __init__(self, config: S3VAEConfig) -> None:
        super().__init__(config)
        c = config
        cells = c.grid * c.grid
        width = c.head_width or 2 * c.z_dim
        self.area_head = prediction_head(c.z_dim, width, cells)
        self.direction_heads = nn.ModuleList(
            prediction_head(c.z_dim, width, c.direction_bins) for _ in range(cells)
        )
        self.reset_parameters()

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c: S3VAEConfig = self.config  # type: ignore[assignment]
        terms, latents, z, total = penalised_elbo(self, x)
        # The negative is the clip a random non-zero shift away in the batch. Its code is read
        # from the anchors' pass: encoding the rolled batch again gives the same values and
        # gradients (train-mode batch norm sees the same clips), for one encoder pass more.
        batch = len(x)
        shift = torch.randint(1, max(batch, 2), (), device=x.device)
        anchor = latents.static.mean
        terms["triplet"] = F.triplet_margin_loss(
            anchor,
            self.encode(shuffle_frames(x)).static.mean,
            anchor[(torch.arange(batch, device=x.device) + shift) % batch],
            margin=c.margin,
        )
        terms["motion_area"], terms["motion_direction"] = self.motion_terms(x, z)
        total = (
            total
            + c.w_triplet * terms["triplet"]
            + c.w_area * terms["motion_area"]
            + c.w_direction * terms["motion_direction"]
        )
        return {"loss": total, **{k: v.detach() for k, v in terms.items()}}

    def motion_terms(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Binary cross-entropy of which cells move (frames 1..T-1) and cross-entropy of the
        moving cells' flow direction, both predicted from the z samples ``(B, T, Z)``."""
        c: S3VAEConfig = self.config  # type: ignore[assignment]
        with torch.no_grad():
            moving, direction = motion_labels(x, c.grid, c.motion_threshold, c.direction_bins)
        area = self.area_head(z[:, 1:])
        area_loss = F.binary_cross_entropy_with_logits(area, moving[:, 1:].float())
        logits = torch.stack([head(z) for head in self.direction_heads], dim=2)  # (B, T, K, bins)
        if not moving.any():
            return area_loss, area_loss.new_zeros(())
        return area_loss, F.cross_entropy(logits[moving], direction[moving])
