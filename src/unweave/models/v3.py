"""V3: content and style by variance-versus-invariance (Wu, Wang, Raj, Xia; ICLR 2025).

Facts in reference/methods.md §C; reference code Irislucent/variance-versus-invariance
(``model/autoencoder.py``, ``model/v3_loss.py``, the per-data-set modules under
``model/modules/``). A sample is ``n`` fragments sharing one style; every fragment is encoded
on its own (no context across fragments):

* encoder: a ResNet-style CNN (BatchNorm, GELU) with a stem and ``len(stage_channels)``
  stride-2 stages (four in the reference: 48 x 32 -> 3 x 2), flatten, ``Linear`` to
  ``content_dim + style_dim``, GELU, split, one ``Linear`` per branch -> ``z_c``, ``z_s``;
* ``z_c`` is quantised by ``vector_quantize_pytorch.VectorQuantize``: ``codebook_size`` atoms,
  EMA updates (``vq_decay``), k-means initialisation on the first batch, dead-code
  replacement below an EMA cluster size of ``dead_code_threshold``, straight-through
  gradients; its commitment loss enters the total with weight ``commitment_weight``;
* decoder: ``Linear`` + GELU on ``VQ(z_c)`` and on ``z_s``, concatenated, ``Linear`` + GELU to
  the smallest feature map, then transposed ResBlocks with x2 nearest upsampling per stage
  and a last transposed convolution (no output activation);
* loss (:func:`v3_terms`): the MSE of the reconstruction plus four hinges on mean pairwise
  distances (:func:`mpd`) within and across samples, plus ``commitment_weight`` x commitment.

Only :meth:`V3.loss` updates the codebook (EMA and dead codes); ``encode`` and the other
read-outs quantise with the codebook frozen (the first call of all, in any method,
k-means-initialises it on that batch, as the library does).

**Training (reference code, not part of the model):** AdamW, lr 1e-3, weight decay 0.1,
betas (0.9, 0.999), batch 32 samples; the learning rate is multiplied by :func:`lr_lambda`
(x0.98 every 20 epochs, never below 0.02x; a ``LambdaLR`` stepped once per epoch); the
checkpoint kept is the one with the best validation loss.

**Left out:** the reference loss's options ``supersample_content`` (regroup the ``B * n``
fragments into near-square pseudo-samples for ``cS``) and ``widen_style`` (a moving average
of ``z_s`` over 3 fragments); the reference configurations of the data sets used here do not
set them, and this module computes the plain loss only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F
from vector_quantize_pytorch import VectorQuantize

from unweave.errors import UnweaveError, check_known_keys
from unweave.models.base import Latents
from unweave.nn.gaussian import Gaussian

#: Added to every denominator of the hinges (``self.eps`` of the reference ``V3Loss``).
EPS = 1e-5


@dataclass
class V3Config:
    """Sizes, codebook and loss settings. Defaults: the reference PhoneNums run
    (``configs/phonenums/v2/cfg_vvi_pn_k10_repo_seed0.yaml`` and the RGB CNN module).

    Inputs are fragments ``(C, H, W)`` = ``(in_channels, height, width)``: RGB digit patches
    ``(3, 48, 32)`` in the reference, ``(3, 32, 32)`` for the digits here, ``(1, F, 32)`` for
    spectrogram fragments (``F`` frequency bins, 32 frames). ``height`` and ``width`` must be
    multiples of ``2 ** len(stage_channels)``.
    """

    in_channels: int = 3  # RGB digit patches (reference PhoneNums)
    height: int = 48  # reference: each digit a 32 w x 48 h patch
    width: int = 32
    stem_channels: int = 4  # reference: n_channels // 16 // 4 before the first stage
    # Output widths of the stride-2 stages; reference: 8, 16 (first CNN) then 128, 256
    # (second CNN, n_channels = 256).
    stage_channels: list[int] = field(default_factory=lambda: [8, 16, 128, 256])
    kernel_sizes: list[int] = field(default_factory=lambda: [5, 5, 3, 3])  # reference: 5x5, 3x3
    blocks_per_stage: int = 3  # reference encoder: 3 ResBlocks per stage and after the stem
    decoder_blocks_per_stage: int = 2  # reference decoder: 2 transposed ResBlocks per stage
    content_dim: int = 512  # reference d_emb_c
    style_dim: int = 512  # reference d_emb_s
    codebook_size: int = 10  # reference n_atoms for PhoneNums (10 digits)
    vq_decay: float = 0.98  # reference vq_ema_decay (0.95 in paper-era configs)
    dead_code_threshold: float = 16.0  # reference threshold_ema_dead_code
    commitment_weight: float = 0.1  # reference loss weight of commit_loss (VQ's own is 1)
    relativity: float = 15.0  # reference r; 5 for SVHN and LibriSpeech

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "model") -> V3Config:
        """Build from a dict, naming unknown keys and impossible values."""
        check_known_keys(where, values, {f.name for f in dataclasses.fields(cls)})
        config = cls(**values)
        config.check(where)
        return config

    def check(self, where: str = "model") -> None:
        """Raise UnweaveError, in one sentence, for a setting the model cannot use."""
        if self.codebook_size < 1:
            raise UnweaveError(
                f"{where}.codebook_size is {self.codebook_size}; V3 cannot use a codebook "
                "size smaller than 1."
            )
        if len(self.kernel_sizes) != len(self.stage_channels) or not self.stage_channels:
            raise UnweaveError(
                f"{where}.kernel_sizes has {len(self.kernel_sizes)} entries and "
                f"{where}.stage_channels {len(self.stage_channels)}; expected one kernel size "
                "per stage and at least one stage."
            )
        factor = self.downsampling
        if self.height % factor or self.width % factor:
            raise UnweaveError(
                f"{where}.height x {where}.width is {self.height} x {self.width}; both must be "
                f"multiples of {factor} ({len(self.stage_channels)} stride-2 stages)."
            )
        if self.relativity <= 0:
            raise UnweaveError(f"{where}.relativity is {self.relativity}; expected > 0.")

    @property
    def downsampling(self) -> int:
        return 2 ** len(self.stage_channels)


def lr_lambda(epoch: int) -> float:
    """The reference schedule as a ``LambdaLR`` factor: x0.98 every 20 epochs, floor 0.02."""
    return max(0.98 ** (epoch // 20), 0.02)


# ---------------------------------------------------------------------- the loss


def mpd(z: torch.Tensor) -> torch.Tensor:
    """Mean pairwise Euclidean distance over the ``n`` vectors of each group.

    ``(n, d)`` -> scalar; ``(B, n, d)`` -> ``(B,)``. Pairs are ordered and a vector is not
    paired with itself: the sum over all ``n x n`` distances divided by ``n (n - 1)``.
    """
    n = z.shape[-2]
    if n < 2:
        raise UnweaveError(f"A mean pairwise distance needs at least 2 vectors; got {n}.")
    # The norm of differences (not torch.cdist): its gradient is 0, not NaN, at distance 0.
    distances = torch.linalg.vector_norm(z.unsqueeze(-2) - z.unsqueeze(-3), dim=-1)
    return distances.sum((-2, -1)) / (n * (n - 1))


def hinge(a: torch.Tensor, b: torch.Tensor, r: float) -> torch.Tensor:
    """``relu(r - a / (b + 1e-5)) / r``: 0 once ``a`` is at least ``r`` times ``b``, 1 at a = 0.

    The notes write "h(a,b) = ReLU(r − a/(b/1e-5))/r"; the reference (``v3_loss.py``) divides
    by ``b + self.eps`` with ``eps = 1e-5``, which is what is done here.
    """
    return F.relu(r - a / (b + EPS)) / r


def v3_statistics(
    z_c: torch.Tensor, z_c_vq: torch.Tensor, z_s: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The four variabilities of codes ``(B, n, d)``: scalars ``cF``, ``cS``, ``sF``, ``sS``.

    ``F`` = within a sample (mean over samples of the within-sample mpd), ``S`` = across
    samples (mpd of the per-sample means). Content statistics average those of ``z_c`` and
    of ``VQ(z_c)``, as the reference does.
    """
    return {
        "cF": (mpd(z_c) / 2 + mpd(z_c_vq) / 2).mean(),
        "cS": mpd(z_c.mean(1)) / 2 + mpd(z_c_vq.mean(1)) / 2,
        "sF": mpd(z_s).mean(),
        "sS": mpd(z_s.mean(1)),
    }


def v3_terms(
    z_c: torch.Tensor, z_c_vq: torch.Tensor, z_s: torch.Tensor, r: float
) -> dict[str, torch.Tensor]:
    """The four hinge terms of codes ``(B, n, d)`` (scalars, each in [0, 1]):

    * ``content`` = h(cF, cS): content varies within a sample more than across samples;
    * ``style`` = h(sS, sF): style varies across samples more than within;
    * ``sample`` = h(sS, cS): across samples, style varies more than content;
    * ``fragment`` = h(cF, sF): within a sample, content varies more than style.
    """
    s = v3_statistics(z_c, z_c_vq, z_s)
    return {
        "content": hinge(s["cF"], s["cS"], r),
        "style": hinge(s["sS"], s["sF"], r),
        "sample": hinge(s["sS"], s["cS"], r),
        "fragment": hinge(s["cF"], s["sF"], r),
    }


# ---------------------------------------------------------------------- the networks


class ResBlock(nn.Module):
    """Conv-BN-GELU-Conv-BN plus a shortcut, then GELU: ``(N, C_in, H, W)`` ->
    ``(N, C_out, H / stride, W / stride)``. ``transposed`` uses ``ConvTranspose2d`` (stride
    1 only), as the reference decoder does."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int = 1, transposed: bool = False
    ) -> None:
        super().__init__()
        conv = nn.ConvTranspose2d if transposed else nn.Conv2d
        pad = kernel // 2
        self.body = nn.Sequential(
            conv(c_in, c_in if transposed else c_out, kernel, stride, pad),
            nn.BatchNorm2d(c_in if transposed else c_out),
            nn.GELU(),
            conv(c_in if transposed else c_out, c_out, kernel, 1, pad),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut = (
            nn.Sequential(conv(c_in, c_out, 1, stride, 0), nn.BatchNorm2d(c_out))
            if c_in != c_out or stride != 1
            else nn.Identity()
        )
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class FragmentEncoder(nn.Module):
    """Fragments ``(N, C, H, W)`` -> ``(z_c (N, content_dim), z_s (N, style_dim))``."""

    def __init__(self, c: V3Config) -> None:
        super().__init__()
        k0 = c.kernel_sizes[0]
        layers: list[nn.Module] = [
            nn.Conv2d(c.in_channels, c.stem_channels, k0, 1, k0 // 2),
            nn.BatchNorm2d(c.stem_channels),
            nn.GELU(),
        ]
        layers += [
            ResBlock(c.stem_channels, c.stem_channels, k0) for _ in range(c.blocks_per_stage)
        ]
        width = c.stem_channels
        for out, kernel in zip(c.stage_channels, c.kernel_sizes, strict=True):
            layers.append(ResBlock(width, out, kernel, stride=2))
            layers += [ResBlock(out, out, kernel) for _ in range(c.blocks_per_stage - 1)]
            width = out
        self.cnn = nn.Sequential(*layers)
        flat = width * (c.height // c.downsampling) * (c.width // c.downsampling)
        self.joint = nn.Sequential(nn.Linear(flat, c.content_dim + c.style_dim), nn.GELU())
        self.content_dim = c.content_dim
        self.content = nn.Linear(c.content_dim, c.content_dim)
        self.style = nn.Linear(c.style_dim, c.style_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.joint(self.cnn(x).flatten(1))
        return self.content(h[:, : self.content_dim]), self.style(h[:, self.content_dim :])


class FragmentDecoder(nn.Module):
    """Codes ``(N, content_dim)`` and ``(N, style_dim)`` -> fragments ``(N, C, H, W)``."""

    def __init__(self, c: V3Config) -> None:
        super().__init__()
        self.content = nn.Sequential(nn.Linear(c.content_dim, c.content_dim), nn.GELU())
        self.style = nn.Sequential(nn.Linear(c.style_dim, c.style_dim), nn.GELU())
        self.map_shape = (
            c.stage_channels[-1],
            c.height // c.downsampling,
            c.width // c.downsampling,
        )
        size = self.map_shape[0] * self.map_shape[1] * self.map_shape[2]
        self.joint = nn.Sequential(nn.Linear(c.content_dim + c.style_dim, size), nn.GELU())
        widths = [c.stem_channels, *c.stage_channels]
        layers: list[nn.Module] = []
        for i in reversed(range(len(c.stage_channels))):
            kernel = c.kernel_sizes[i]
            wide, narrow = widths[i + 1], widths[i]
            blocks = [wide] * (c.decoder_blocks_per_stage - 1) + [narrow]
            for c_in, c_out in zip([wide, *blocks[:-1]], blocks, strict=True):
                layers.append(ResBlock(c_in, c_out, kernel, transposed=True))
            layers.append(nn.Upsample(scale_factor=2))
        k0 = c.kernel_sizes[0]
        layers += [
            ResBlock(c.stem_channels, c.stem_channels, k0, transposed=True)
            for _ in range(c.decoder_blocks_per_stage)
        ]
        layers.append(nn.ConvTranspose2d(c.stem_channels, c.in_channels, k0, 1, k0 // 2))
        self.cnn = nn.Sequential(*layers)

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        h = self.joint(torch.cat([self.content(content), self.style(style)], dim=-1))
        return self.cnn(h.view(-1, *self.map_shape))


def point_mass(code: torch.Tensor) -> Gaussian:
    """A deterministic code as a Gaussian of variance 0 (``sample()`` returns the code)."""
    return Gaussian(code, torch.full_like(code, float("-inf")))


# ---------------------------------------------------------------------- the model


class V3(nn.Module):
    """The V3 content-style autoencoder for samples of fragments ``(B, n, C, H, W)``."""

    name: ClassVar[str] = "v3"
    modality: ClassVar[str] = "fragments"
    config_class: ClassVar[type[V3Config]] = V3Config
    lr_lambda = staticmethod(lr_lambda)  # the reference schedule; the trainer applies it

    def __init__(self, config: V3Config) -> None:
        super().__init__()
        config.check()
        self.config = config
        self.encoder = FragmentEncoder(config)
        self.vq = VectorQuantize(
            dim=config.content_dim,
            codebook_size=config.codebook_size,
            decay=config.vq_decay,
            kmeans_init=True,
            threshold_ema_dead_code=config.dead_code_threshold,
            commitment_weight=1.0,  # weighted in the total instead, as the reference
            ema_update=True,
            rotation_trick=False,  # straight-through gradients, as the reference
        )
        self.decoder = FragmentDecoder(config)

    # ------------------------------------------------------------------ inputs

    def batch_inputs(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor]:
        """A loader batch -> the arguments of :meth:`loss`: fragments ``(B, n, C, H, W)``."""
        return (batch["x"].float(),)

    def check_input(self, x: torch.Tensor) -> None:
        c = self.config
        if x.ndim != 5 or tuple(x.shape[2:]) != (c.in_channels, c.height, c.width):
            raise UnweaveError(
                f"V3 takes fragments of shape (B, n, {c.in_channels}, {c.height}, {c.width}); "
                f"got {tuple(x.shape)}."
            )

    # ------------------------------------------------------------------ codes

    def fragment_codes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fragments ``(B, n, C, H, W)`` -> ``z_c`` ``(B, n, content_dim)`` (before VQ) and
        ``z_s`` ``(B, n, style_dim)``, every fragment encoded on its own."""
        self.check_input(x)
        b, n = x.shape[:2]
        z_c, z_s = self.encoder(x.reshape(b * n, *x.shape[2:]))
        return z_c.view(b, n, -1), z_s.view(b, n, -1)

    def quantize(
        self, z_c: torch.Tensor, update: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``z_c`` ``(B, n, d)`` -> ``(VQ(z_c) (B, n, d), atom ids (B, n), commitment ())``.

        The codebook learns (EMA, dead codes) only with ``update`` and in training mode; the
        commitment loss is 0 in evaluation mode (the library's behaviour).
        """
        return self.vq(z_c, freeze_codebook=not update)

    def encode(self, x: torch.Tensor) -> Latents:
        """Fragments ``(B, n, C, H, W)`` -> Latents: ``static`` the style code of each sample
        (mean of ``z_s`` over its fragments, ``(B, style_dim)``), ``dynamic`` the quantised
        content code of each fragment ``(B, n, content_dim)``, both of variance 0.

        ``extras``: ``content_indices`` ``(B, n)``, ``content_pre_vq`` ``(B, n, d_c)``,
        ``style_fragments`` ``(B, n, d_s)``.
        """
        z_c, z_s = self.fragment_codes(x)
        z_c_vq, indices, _ = self.quantize(z_c)
        return Latents(
            static=point_mass(z_s.mean(1)),
            dynamic=point_mass(z_c_vq),
            extras={"content_indices": indices, "content_pre_vq": z_c, "style_fragments": z_s},
        )

    @torch.no_grad()
    def content_style_codes(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Fragments ``(B, n, C, H, W)`` -> per fragment ``(B * n, .)``: the quantised content
        code, the style code ``z_s`` and the codebook atom ``(B * n,)``."""
        latents = self.encode(x)
        return (
            latents.dynamic.mean.flatten(0, 1),
            latents.extras["style_fragments"].flatten(0, 1),
            latents.extras["content_indices"].flatten(),
        )

    @torch.no_grad()
    def decode_content_style(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """Codes of :meth:`content_style_codes`, ``(M, d_c)`` and ``(M, d_s)`` -> fragments
        ``(M, C, H, W)``."""
        return self.decoder(content, style)

    def content_indices(self, x: torch.Tensor) -> torch.Tensor:
        """Fragments ``(B, n, C, H, W)`` -> the codebook atom of each fragment ``(B, n)``."""
        return self.quantize(self.fragment_codes(x)[0])[1]

    def decode(self, style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
        """Style ``(B, d_s)`` (one per sample) or ``(B, n, d_s)`` (one per fragment) and
        content ``(B, n, d_c)`` -> fragments ``(B, n, C, H, W)``."""
        b, n = content.shape[:2]
        if style.ndim == 2:
            style = style[:, None].expand(b, n, style.shape[-1])
        out = self.decoder(content.reshape(b * n, -1), style.reshape(b * n, -1))
        return out.view(b, n, *out.shape[1:])

    @torch.no_grad()
    def swap(self, x_style: torch.Tensor, x_content: torch.Tensor) -> torch.Tensor:
        """The content of ``x_content`` in the style of ``x_style``: ``(B, n, C, H, W)``."""
        return self.decode(self.encode(x_style).static.mean, self.encode(x_content).dynamic.mean)

    # ------------------------------------------------------------------ the objective

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Fragments ``(B, n, C, H, W)``, ``B, n >= 2`` -> ``{"loss", "recon", "content",
        "style", "sample", "fragment", "commit"}``:

        ``loss = recon + content + style + sample + fragment + commitment_weight * commit``,
        ``recon`` the MSE over all elements of each fragment decoded from its own ``VQ(z_c)``
        and ``z_s``. The codebook learns from this call (in training mode).
        """
        c = self.config
        b, n = x.shape[:2]
        if b < 2 or n < 2:
            raise UnweaveError(
                f"The V3 loss compares fragments within and across samples; it needs at "
                f"least 2 samples of at least 2 fragments, got {b} of {n}."
            )
        z_c, z_s = self.fragment_codes(x)
        z_c_vq, _, commit = self.quantize(z_c, update=True)
        terms = {"recon": F.mse_loss(self.decode(z_s, z_c_vq), x)}
        terms |= v3_terms(z_c, z_c_vq, z_s, c.relativity)
        terms["commit"] = commit
        total = sum(v for k, v in terms.items() if k != "commit")
        total = total + c.commitment_weight * terms["commit"]
        return {"loss": total, **{k: v.detach() for k, v in terms.items()}}

    def export_config(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)
