"""The model contract (DESIGN.md) and the parts every sequential video VAE shares.

``encode(x) -> Latents``; ``decode(static, dynamic) -> frames``; ``loss(x) -> {"loss": ...}``;
``sample_static(n)``, ``sample_dynamic(n, T)``; ``swap(a, b)`` decodes the static code of ``a``
with the dynamics of ``b``. Models are plain ``torch.nn.Module``s, usable without Lightning.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from unweave.errors import UnweaveError
from unweave.nn.frames import (
    FrameDecoder,
    FrameEncoder,
    init_reference_weights,
    prepare_frames,
)
from unweave.nn.gaussian import Gaussian
from unweave.nn.priors import LSTMPrior
from unweave.settings import config_from_dict


@dataclass
class Latents:
    """Posterior codes of a batch: ``static`` over ``(B, F)``, ``dynamic`` over ``(B, T, Z)``."""

    static: Gaussian
    dynamic: Gaussian | None
    extras: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def static_to_decode(self) -> torch.Tensor:
        """The static code as the decoder reads it: the mean ``(B, F)``, or per frame
        ``(B, T, F)`` where the model's static part moves a little with time (SKD's projection
        on its static eigenvectors, ``extras["static_frames"]``)."""
        return self.extras.get("static_frames", self.static.mean)


@dataclass
class SequentialVAEConfig:
    """Sizes every sequential VAE here has. Defaults: DBSE Sprites (reference/dbse.md §2)."""

    g_dim: int = 256  # per-frame feature size
    f_dim: int = 256  # static code size
    z_dim: int = 256  # dynamic code size per frame
    rnn_size: int = 64  # hidden size of the static MLP and the LSTM prior
    # On the static head's mean and log-variance: "linear" (DBSE video) or "leaky_relu"
    # (LeakyReLU 0.2: the DSVAE references and DBSE's audio model).
    static_head_activation: str = "linear"

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "model") -> SequentialVAEConfig:
        """Build from a dict, naming any unknown key (with the closest known one)."""
        return config_from_dict(cls, values, where)


@dataclass
class VideoVAEConfig(SequentialVAEConfig):
    """Frame sizes of the sequential video VAEs. Defaults: DBSE Sprites (reference/dbse.md §2)."""

    image_size: int = 64  # frames are image_size x image_size
    channels: int = 3
    base_channels: int = 64  # width of the first conv block (64-128-256-512 at 64x64)


class SequentialVAE(nn.Module):
    """Frame encoder, frame decoder, N(0, I) static prior and a learned LSTM dynamic prior.

    Subclasses implement :meth:`encode` and :meth:`loss`.
    """

    name: ClassVar[str]
    modality: ClassVar[str] = "video"
    config_class: ClassVar[type[SequentialVAEConfig]]

    def __init__(self, config: SequentialVAEConfig) -> None:
        super().__init__()
        self.config = config
        self.frame_encoder, self.frame_decoder = self.build_coders(config)
        self.dynamic_prior = LSTMPrior(config.z_dim, config.rnn_size)

    def build_coders(self, config: VideoVAEConfig) -> tuple[nn.Module, nn.Module]:
        """The per-frame encoder and decoder: the DCGAN conv stacks for video."""
        c = config
        encoder = FrameEncoder(c.g_dim, c.image_size, c.channels, c.base_channels)
        decoder = FrameDecoder(c.f_dim + c.z_dim, c.image_size, c.channels, c.base_channels)
        return encoder, decoder

    def reset_parameters(self) -> None:
        """Apply the reference initialisation (call at the end of a subclass ``__init__``)."""
        init_reference_weights(self)

    def batch_inputs(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor]:
        """A loader batch -> the arguments of :meth:`loss`: frames in [0, 1], resized."""
        return (prepare_frames(batch["x"], self.config.image_size),)

    def example_batch(self, batch_size: int = 2, steps: int = 8) -> dict[str, torch.Tensor]:
        """A random loader batch of the shape this model trains on: uint8 clips ``x``
        ``(batch_size, steps, C, image_size, image_size)``."""
        c = self.config
        return example_clips(batch_size, steps, c.channels, c.image_size)

    def frame_features(self, x: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, T, C, H, W)`` -> features ``(B, T, g_dim)``."""
        b, t = x.shape[:2]
        return self.frame_encoder(x.reshape(b * t, *x.shape[2:])).view(b, t, -1)

    def encode(self, x: torch.Tensor) -> Latents:
        """Frames ``(B, T, C, H, W)`` in [0, 1] -> posterior Latents."""
        raise NotImplementedError

    def decode(self, static: torch.Tensor, dynamic: torch.Tensor) -> torch.Tensor:
        """Static codes ``(B, F)`` and dynamic codes ``(B, T, Z)`` -> frames ``(B, T, C, H, W)``."""
        b, t = dynamic.shape[:2]
        codes = torch.cat([dynamic, static[:, None].expand(b, t, static.shape[-1])], dim=-1)
        frames = self.frame_decoder(codes.reshape(b * t, -1))
        return frames.view(b, t, *frames.shape[1:])

    def sample_static(self, n: int) -> torch.Tensor:
        """``n`` static codes from N(0, I): ``(n, F)``."""
        ref = next(self.parameters())
        return torch.randn(n, self.config.f_dim, device=ref.device, dtype=ref.dtype)

    def sample_dynamic(self, n: int, steps: int) -> torch.Tensor:
        """``n`` dynamic sequences from the learned prior: per-step prior means ``(n, T, Z)``.

        As in the reference evaluation, generated samples are fed back and the per-step means
        are returned.
        """
        prior, _ = self.dynamic_prior.generate(n, steps, next(self.parameters()))
        return prior.mean

    @torch.no_grad()
    def swap(self, x_static: torch.Tensor, x_dynamic: torch.Tensor) -> torch.Tensor:
        """Decode the static code of ``x_static`` with the dynamics of ``x_dynamic`` (means)."""
        return self.decode(self.encode(x_static).static.mean, self.encode(x_dynamic).dynamic.mean)

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Frames ``(B, T, C, H, W)`` -> ``{"loss": total, <term>: value}`` (sums / batch)."""
        raise NotImplementedError

    def elbo_terms(
        self, x: torch.Tensor, latents: Latents | None = None
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """The terms every sequential VAE here shares, per clip (sums / batch).

        Returns ``({"sse_seq", "kl_static", "kl_dynamic", "mse"}, f, z)`` with the posterior
        samples ``f`` ``(B, F)`` and ``z`` ``(B, T, Z)``; KL(z) is against the learned prior,
        teacher-forced with ``z``; ``mse`` is detached and per pixel. ``latents``: ``x``'s
        posteriors when the caller has them already (default: ``encode(x)``).
        """
        batch = x.shape[0]
        latents = self.encode(x) if latents is None else latents
        # A model whose dynamic posterior was conditioned on a sample of f decodes that one.
        if "static_sample" in latents.extras:
            f = latents.extras["static_sample"]
        else:
            f = latents.static.sample()
        z = latents.dynamic.sample()
        recon = self.decode(f, z)
        terms = {
            "sse_seq": (recon - x).pow(2).sum() / batch,
            "kl_static": latents.static.kl() / batch,
            "kl_dynamic": latents.dynamic.kl(self.dynamic_prior.teacher_forced(z)) / batch,
            "mse": (recon.detach() - x).pow(2).mean(),
        }
        return terms, f, z

    def export_config(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)


@torch.no_grad()
def swap_codes(
    model: nn.Module,
    x_static: torch.Tensor,
    x_dynamic: torch.Tensor,
    mask_static: torch.Tensor | None = None,
    mask_dynamic: torch.Tensor | None = None,
) -> torch.Tensor:
    """Decode the static code of ``x_static`` with the dynamics of ``x_dynamic`` (posterior
    means), for models whose ``encode`` takes a mask: ``(B, T, F)``."""
    static = model.encode(x_static, mask_static).static
    if static is None:
        raise UnweaveError(f"Swapping needs a static code; the {model.name} model has none.")
    return model.decode(static.mean, model.encode(x_dynamic, mask_dynamic).dynamic.mean)


def example_clips(batch_size: int, steps: int, channels: int, size: int) -> dict[str, torch.Tensor]:
    """A random loader batch of uint8 clips ``x`` ``(batch_size, steps, channels, size, size)``."""
    shape = (batch_size, steps, channels, size, size)
    return {"x": torch.randint(0, 256, shape, dtype=torch.uint8)}


def image_batch(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor]:
    """A loader batch of images (``x`` ``(B, C, H, W)``, uint8 0-255 or float in [0, 1]) ->
    ``(x,)`` with float images in [0, 1]."""
    x = batch["x"]
    return (x.float() / 255.0 if x.dtype == torch.uint8 else x.float(),)


def example_images(batch_size: int, channels: int, size: int) -> dict[str, torch.Tensor]:
    """A random loader batch of uint8 images ``x`` ``(batch_size, channels, size, size)``."""
    return {"x": torch.randint(0, 256, (batch_size, channels, size, size), dtype=torch.uint8)}


def check_images(x: torch.Tensor, channels: int, size: int, who: str) -> None:
    """One sentence if ``x`` is not ``(B, channels, size, size)``."""
    expected = (channels, size, size)
    if x.ndim != 4 or tuple(x.shape[1:]) != expected:
        raise UnweaveError(
            f"{who} takes images of shape (B, {', '.join(map(str, expected))}) "
            f"(model.channels = {channels}); got {tuple(x.shape)}."
        )
