"""A beta-VAE on speech segments: the baseline of FHVAE's robustness claim.

FHVAE's robustness comparison (Hsu, Zhang & Glass 2017, the Aurora-4 table of its slides)
sets FHVAE's segment code z1 against the features themselves and a VAE's code. This is that
VAE, built from the FHVAE's own parts (:mod:`unweave.models.fhvae`) without the sequence
latent, with the KL weighted by ``beta`` (Higgins et al. 2017; beta 1 is the plain VAE):

* ``q(z|x)``: an LSTM over the segment's frames, its final ``h`` (every layer's,
  concatenated) -> linear mean / log-variance;
* ``p(x|z)``: an LSTM fed ``z`` at every frame, per-frame linear heads -> a diagonal
  Gaussian;
* loss per segment: ``-log p(x|z) + beta * KL(q(z|x) || N(0, I))``, a batch mean;
* TensorFlow-style LSTM and Xavier head initialisation, as the FHVAE.

It has one code per segment and no split: ``encode`` returns it as the dynamic code
``(B, 1, z_dim)`` and no static code, so speech evaluation reports its dynamic figures only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from unweave.data.timeseries import SeriesData
from unweave.errors import UnweaveError
from unweave.models.base import Latents
from unweave.models.fhvae import (
    check_segment_shape,
    decode_segments,
    final_hidden,
    log_normal,
    reset_head,
    reset_lstm,
)
from unweave.nn.gaussian import Gaussian, GaussianHead
from unweave.settings import check_number, config_from_dict


@dataclass
class SegmentVAEConfig:
    """Sizes and beta. Defaults: the FHVAE's TIMIT sizes (one latent of z1's size)."""

    n_features: int = 80  # Kaldi FBank, 80 mel bins, as the FHVAE
    segment: int = 20  # frames per segment, as the FHVAE
    rnn_size: int = 256  # LSTM width of the encoder and the decoder, as the FHVAE
    rnn_layers: int = 1
    z_dim: int = 32  # as FHVAE's z1
    beta: float = 1.0  # KL weight; 1: the plain VAE

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "model") -> SegmentVAEConfig:
        """Build from a dict, naming unknown keys and impossible values."""
        config = config_from_dict(cls, values, where)
        for name in ("n_features", "segment", "rnn_size", "rnn_layers", "z_dim"):
            check_number(f"{where}.{name}", getattr(config, name), whole=True, low=1)
        check_number(f"{where}.beta", config.beta, low=0)
        return config


class SegmentVAE(nn.Module):
    """A beta-VAE on segments ``x`` ``(B, segment, n_features)``; see the module docstring."""

    name: ClassVar[str] = "beta-vae"
    modality: ClassVar[str] = "audio"
    config_class: ClassVar[type[SegmentVAEConfig]] = SegmentVAEConfig

    def __init__(self, config: SegmentVAEConfig) -> None:
        super().__init__()
        self.config = c = config
        self.encoder_rnn = nn.LSTM(c.n_features, c.rnn_size, c.rnn_layers, batch_first=True)
        self.z_head = GaussianHead(c.rnn_layers * c.rnn_size, c.z_dim)
        self.decoder_rnn = nn.LSTM(c.z_dim, c.rnn_size, c.rnn_layers, batch_first=True)
        self.decoder_head = GaussianHead(c.rnn_size, c.n_features)
        for rnn in (self.encoder_rnn, self.decoder_rnn):
            reset_lstm(rnn)
        for head in (self.z_head, self.decoder_head):
            reset_head(head)

    @staticmethod
    def settings_from_data(data: SeriesData) -> dict[str, int]:
        """The settings the training segments fix: feature count and segment length."""
        return {"n_features": int(data.x.shape[2]), "segment": int(data.x.shape[1])}

    def batch_inputs(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor]:
        """A loader batch -> ``(x (B, T, F) float,)``."""
        return (batch["x"].float(),)

    def example_batch(self, batch_size: int = 2) -> dict[str, torch.Tensor]:
        """Random segments ``x`` ``(batch_size, segment, n_features)``."""
        return {"x": torch.randn(batch_size, self.config.segment, self.config.n_features)}

    def check_input(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        c = self.config
        check_segment_shape(x, c.segment, c.n_features, "The segment beta-VAE")

    def encode_z(self, x: torch.Tensor) -> Gaussian:
        """``q(z|x)`` over ``(B, z_dim)``."""
        return self.z_head(final_hidden(self.encoder_rnn, x))

    def decoder(self, z: torch.Tensor) -> Gaussian:
        """``p(x|z)``: a diagonal Gaussian over ``(B, segment, n_features)``."""
        return decode_segments(self.decoder_rnn, self.decoder_head, z, self.config.segment)

    def encode(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> Latents:
        """Segments ``(B, T, F)`` -> no static code and ``q(z|x)`` as the dynamic code
        ``(B, 1, z_dim)``."""
        self.check_input(x, mask)
        q = self.encode_z(x)
        return Latents(static=None, dynamic=Gaussian(q.mean[:, None], q.logvar[:, None]))

    def decode(self, static: torch.Tensor | None, dynamic: torch.Tensor) -> torch.Tensor:
        """``z`` ``(B, z_dim)`` or ``(B, 1, z_dim)`` -> the mean segment ``(B, T, F)``;
        ``static`` is ignored (there is none)."""
        return self.decoder(dynamic.reshape(len(dynamic), self.config.z_dim)).mean

    def sample_static(self, n: int) -> torch.Tensor:
        raise UnweaveError("The segment beta-VAE has no static code to sample.")

    def sample_dynamic(self, n: int) -> torch.Tensor:
        """``n`` draws of ``z`` from N(0, I): ``(n, 1, z_dim)``."""
        ref = self.z_head.mean.weight
        return torch.randn(n, 1, self.config.z_dim, device=ref.device, dtype=ref.dtype)

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Segments ``(B, T, F)`` -> ``{"loss", "nll", "kl", "mse"}``, batch means; ``nll``
        summed over frames and features, ``kl`` over the latent's dimensions."""
        self.check_input(x)
        q = self.encode_z(x)
        px = self.decoder(q.sample())
        batch = len(x)
        terms = {
            "nll": -log_normal(x, px.mean, px.logvar).sum() / batch,
            "kl": q.kl() / batch,
        }
        total = terms["nll"] + self.config.beta * terms["kl"]
        terms["mse"] = (px.mean.detach() - x).pow(2).mean()
        return {"loss": total, **{k: v.detach() for k, v in terms.items()}}

    def export_config(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)
