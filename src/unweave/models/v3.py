"""V3: content and style by variance-versus-invariance (Wu, Wang, Raj, Xia; ICLR 2025).

Facts in reference/methods.md §C; reference code Irislucent/variance-versus-invariance
(``model/autoencoder.py``, ``model/v3_loss.py``, ``model/modules/phonenums.py`` and
``model/modules/insnotes.py``). A sample is ``n`` fragments sharing one style; every fragment
is encoded on its own (no context across fragments):

* encoder: one or more CNN stacks (:class:`CNNStack`, the reference's ``_make_cnn``), each a
  stem convolution + BatchNorm + GELU, ``blocks`` ResBlocks, then ``layers`` stages that
  open with a strided ResBlock doubling the width and add ``blocks - 1`` more; flatten,
  ``Linear`` to ``content_dim + style_dim``, GELU, split, one ``Linear`` per branch ->
  ``z_c``, ``z_s``. PhoneNums (``v3-phonenums``): two stacks of 64 and 256 channels, 5x5
  kernels, 48 x 32 -> 3 x 2; InsNotes (``v3-notes``): 32 channels with (9, 3) kernels and
  stride (2, 2), then 512 with (5, 3) kernels and stride (2, 1), 512 x 32 -> 4 x 4;
* ``z_c`` is quantised by ``vector_quantize_pytorch.VectorQuantize``: ``codebook_size`` atoms,
  EMA updates (``vq_decay``), k-means initialisation on the first batch, dead-code
  replacement below an EMA cluster size of ``dead_code_threshold``, straight-through
  gradients; its commitment loss enters the total with weight ``commitment_weight``;
* decoder: ``Linear`` + GELU on ``VQ(z_c)`` and on ``z_s``, concatenated, ``Linear`` + GELU to
  the smallest feature map, then the stacks mirrored (``_make_cnn_transpose``): per stage
  ``blocks`` transposed ResBlocks (the last halves the width) and nearest upsampling by the
  stride, then ``blocks`` transposed ResBlocks and a transposed convolution to the next
  width (no output activation);
* inputs: the network sees ``(x - input_mean) / input_std`` and the decoder's output is
  mapped back (:meth:`V3.decode`), so codes, swaps and reconstructions are in data units;
  the reference's images are ``Normalize(0.5, 0.5)``, i.e. [0, 1] -> [-1, 1], and its notes
  raw log magnitudes (mean 0, std 1 here);
* loss (:func:`v3_terms`): the MSE of the (normalised) reconstruction plus four hinges on
  mean pairwise distances (:func:`mpd`) within and across samples, plus
  ``commitment_weight`` x commitment.

Only :meth:`V3.loss` updates the codebook (EMA and dead codes); ``encode`` and the other
read-outs quantise with the codebook frozen (the first call of all, in any method,
k-means-initialises it on that batch, as the library does).

**Training (reference code, not part of the model):** AdamW, lr 1e-3, weight decay 0.1,
betas (0.9, 0.999), batch 32 samples; the learning rate is multiplied by :func:`lr_lambda`,
``max(0.98 ** (epoch / 20), 0.02)`` (``utils/training_utils.py``: smooth, although its
docstring says "every 20 epochs"; a ``LambdaLR`` stepped once per epoch); the checkpoint
kept is the one with the best validation loss. With ``frequency_mask`` > 0 (InsNotes: 15)
every training sample gets torchaudio's ``FrequencyMasking`` (:func:`frequency_mask`, served
by :meth:`V3.training_items`); evaluation never sees masked inputs.

**Left out:** the reference loss's options ``supersample_content`` (regroup the ``B * n``
fragments into near-square pseudo-samples for ``cS``) and ``widen_style`` (a moving average
of ``z_s`` over 3 fragments); the reference configurations of the data sets used here do not
set them, and this module computes the plain loss only. The reference encoders also define
two ``BatchNorm1d`` layers (``bn_c``, ``bn_s``; 2,048 parameters) that ``forward`` never
uses; they are not built here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Dataset, default_collate
from vector_quantize_pytorch import VectorQuantize

from unweave.data.fragments import FragmentData, FragmentTorchDataset
from unweave.errors import UnweaveError, check_known_keys
from unweave.models.base import Latents
from unweave.nn.gaussian import Gaussian
from unweave.settings import check_field_types, config_from_dict

#: Added to every denominator of the hinges (``self.eps`` of the reference ``V3Loss``).
EPS = 1e-5
#: What a masked bin holds: the reference masks with 0 and then sets every 0 to 1e-8.
MASK_VALUE = 1e-8


@dataclass
class CNNStack:
    """One CNN stack of the encoder, mirrored in the decoder: a reference ``_make_cnn`` call
    ``_make_cnn(c_in, channels, layers, blocks, kernel, stride)`` and its
    ``_make_cnn_transpose(channels, c_in, layers, blocks, kernel, stride)``.

    Widths: a stem of ``channels // 2 ** layers``, doubled by each of the ``layers`` stages up
    to ``channels``. Sizes: ``(H, W)`` -> ``(H / stride[0] ** layers, W / stride[1] ** layers)``.
    """

    channels: int  # the reference's n_hidden_channels (output width)
    layers: int  # strided stages (n_layers)
    blocks: int  # ResBlocks after the stem and in each stage (n_blocks_per_layer)
    kernel: tuple[int, int]  # (height = frequency, width = time); odd, padded to keep sizes
    stride: tuple[int, int]  # at each stage's first ResBlock; the decoder upsamples by it

    def __post_init__(self) -> None:
        self.kernel = tuple(int(k) for k in self.kernel)
        self.stride = tuple(int(s) for s in self.stride)

    @property
    def widths(self) -> list[int]:
        """Stem width, then the width after each stage: ``layers + 1`` numbers."""
        stem = self.channels // 2**self.layers
        return [stem * 2**i for i in range(self.layers + 1)]

    @property
    def downsampling(self) -> tuple[int, int]:
        """How many times smaller ``(H, W)`` come out."""
        return self.stride[0] ** self.layers, self.stride[1] ** self.layers

    def check(self, where: str) -> None:
        """Raise UnweaveError, in one sentence, for a stack that cannot be built."""
        if self.layers < 0 or self.blocks < 1:
            raise UnweaveError(
                f"{where} has layers {self.layers} and blocks {self.blocks}; expected "
                "layers >= 0 and blocks >= 1."
            )
        if self.channels < 2**self.layers or self.channels % 2**self.layers:
            raise UnweaveError(
                f"{where}.channels is {self.channels}; expected a multiple of 2 ** layers = "
                f"{2**self.layers} (the stem has channels // 2 ** layers)."
            )
        if len(self.kernel) != 2 or any(k < 1 or k % 2 == 0 for k in self.kernel):
            raise UnweaveError(f"{where}.kernel is {list(self.kernel)}; expected two odd sizes.")
        if len(self.stride) != 2 or any(s < 1 for s in self.stride):
            raise UnweaveError(f"{where}.stride is {list(self.stride)}; expected two sizes >= 1.")


def phonenums_cnn(channels: int = 256) -> list[CNNStack]:
    """The reference PhoneNums stacks (``model/modules/phonenums.py``) for ``n_channels``:
    ``channels / 4`` over 2 stages, then ``channels`` over 2 more; 2 blocks, 5x5, stride 2."""
    return [
        CNNStack(channels // 4, 2, 2, (5, 5), (2, 2)),
        CNNStack(channels, 2, 2, (5, 5), (2, 2)),
    ]


@dataclass
class V3Config:
    """Sizes, networks, codebook, loss and input settings. Defaults: the reference PhoneNums
    run (``cfg_v3_phonenums.yaml``, ``model/modules/phonenums.py``, ``phonenums_dataloader.py``).

    Inputs are fragments ``(C, H, W)`` = ``(in_channels, height, width)``: RGB digit patches
    ``(3, 48, 32)`` in the reference (``n_feature`` x ``fragment_len``), ``(3, 32, 32)`` for
    the MNIST digits here, ``(1, F, 32)`` for spectrogram fragments (``F`` frequency bins, 32
    frames). ``height`` and ``width`` must be multiples of the stacks' total downsampling.
    """

    in_channels: int = 3  # RGB digit patches (reference PhoneNums)
    height: int = 48  # reference n_feature: each digit a 32 w x 48 h patch
    width: int = 32  # reference fragment_len
    # The encoder's CNN stacks, applied in order (the decoder mirrors them in reverse).
    cnn: list[CNNStack] = field(default_factory=phonenums_cnn)
    content_dim: int = 512  # reference d_emb_c
    style_dim: int = 512  # reference d_emb_s
    codebook_size: int = 10  # reference n_atoms for PhoneNums (10 digits)
    vq_decay: float = 0.98  # reference vq_ema_decay (0.95 in paper-era configs)
    dead_code_threshold: float = 16.0  # reference threshold_ema_dead_code
    commitment_weight: float = 0.1  # reference loss weight of commit_loss (VQ's own is 1)
    relativity: float = 15.0  # reference r; 5 for SVHN and LibriSpeech
    # The network sees (x - input_mean) / input_std: reference images Normalize(0.5, 0.5)
    # ([0, 1] -> [-1, 1]); reference notes are raw log magnitudes (0 and 1).
    input_mean: float = 0.5
    input_std: float = 0.5
    # Widest FrequencyMasking band on every training sample (reference InsNotes 15); 0 = off.
    frequency_mask: int = 0

    def __post_init__(self) -> None:
        stacks = []
        for i, stack in enumerate(self.cnn):
            if isinstance(stack, dict):
                known = {f.name for f in dataclasses.fields(CNNStack)}
                check_known_keys(f"model.cnn[{i}]", stack, known)
                missing = sorted(known - set(stack))
                if missing:
                    raise UnweaveError(
                        f"model.cnn[{i}] has no {', '.join(missing)}; expected all of: "
                        f"{', '.join(sorted(known))}."
                    )
                stack = CNNStack(**stack)
            stacks.append(stack)
        self.cnn = stacks

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "model") -> V3Config:
        """Build from a dict, naming unknown keys and impossible values."""
        config = config_from_dict(cls, values, where)
        config.check(where)
        return config

    def check(self, where: str = "model") -> None:
        """Raise UnweaveError, in one sentence, for a setting the model cannot use."""
        check_field_types(self, where)
        if not self.cnn:
            raise UnweaveError(f"{where}.cnn is empty; expected at least one CNN stack.")
        for i, stack in enumerate(self.cnn):
            stack.check(f"{where}.cnn[{i}]")
        down_h, down_w = self.downsampling
        if self.height % down_h or self.width % down_w:
            raise UnweaveError(
                f"{where}.height x {where}.width is {self.height} x {self.width}; they must be "
                f"multiples of {down_h} x {down_w} (the stacks' strides ** layers)."
            )
        if self.relativity <= 0:
            raise UnweaveError(f"{where}.relativity is {self.relativity}; expected > 0.")
        if self.input_std <= 0:
            raise UnweaveError(f"{where}.input_std is {self.input_std}; expected > 0.")
        if not 0 <= self.frequency_mask <= self.height:
            raise UnweaveError(
                f"{where}.frequency_mask is {self.frequency_mask}; expected 0 (off) to "
                f"{where}.height ({self.height})."
            )

    @property
    def downsampling(self) -> tuple[int, int]:
        """How many times smaller ``(height, width)`` are at the encoder's end."""
        return (
            math.prod(s.downsampling[0] for s in self.cnn),
            math.prod(s.downsampling[1] for s in self.cnn),
        )

    @property
    def map_shape(self) -> tuple[int, int, int]:
        """The smallest feature map ``(channels, H, W)`` (flattened into the codes)."""
        down_h, down_w = self.downsampling
        return self.cnn[-1].channels, self.height // down_h, self.width // down_w


def lr_lambda(epoch: int) -> float:
    """The reference schedule as a ``LambdaLR`` factor: ``max(0.98 ** (epoch / 20), 0.02)``
    (``exponential_decay_with_warmup``, no warm-up): smooth, not a staircase."""
    return max(0.98 ** (epoch / 20), 0.02)


def frequency_mask(x: torch.Tensor, max_width: int) -> torch.Tensor:
    """torchaudio's ``FrequencyMasking(max_width)`` on one sample ``(..., F, T)``, as the
    reference InsNotes loader applies it (then its zeros -> 1e-8): returns a copy.

    One band, shared by every fragment and channel of the sample: width ``w = U * max_width``
    (0 to ``max_width - 1`` bins after flooring), first bin ``floor(U * (F - w))``; its bins
    and any exact zeros of ``x`` become ``MASK_VALUE``. Draws from torch's global generator.
    """
    bins = x.shape[-2]
    width = torch.rand(()) * max_width
    start = (torch.rand(()) * (bins - width)).long()
    band = torch.arange(bins)
    masked = (band >= start) & (band < start + width.long())
    x = x.masked_fill(masked[:, None], 0.0)
    return x.masked_fill(x == 0, MASK_VALUE)


class FrequencyMasked(Dataset):
    """Training items of fragments with :func:`frequency_mask` on every sample's ``x``."""

    def __init__(self, items: Dataset, max_width: int) -> None:
        self.items = items
        self.max_width = max_width

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = dict(self.items[index])
        item["x"] = frequency_mask(item["x"], self.max_width)
        return item


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
    """Conv-BN-GELU-Conv-BN plus a shortcut (1x1 conv + BN where the width changes), then
    GELU: ``(N, C_in, H, W)`` -> ``(N, C_out, H / stride[0], W / stride[1])``.

    ``transposed`` (the reference ``ResBlockTranspose``): ``ConvTranspose2d``, stride 1, and
    the first convolution keeps ``C_in`` (the second changes the width).
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: tuple[int, int],
        stride: tuple[int, int] = (1, 1),
        transposed: bool = False,
    ) -> None:
        super().__init__()
        conv = nn.ConvTranspose2d if transposed else nn.Conv2d
        pad = (kernel[0] // 2, kernel[1] // 2)
        middle = c_in if transposed else c_out
        self.body = nn.Sequential(
            conv(c_in, middle, kernel, stride, pad),
            nn.BatchNorm2d(middle),
            nn.GELU(),
            conv(middle, c_out, kernel, 1, pad),
            nn.BatchNorm2d(c_out),
        )
        # Strided blocks always double the width, so a width change is the only case.
        self.shortcut = (
            nn.Sequential(conv(c_in, c_out, 1, stride, 0), nn.BatchNorm2d(c_out))
            if c_in != c_out
            else nn.Identity()
        )
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


def encoder_stack(c_in: int, s: CNNStack) -> nn.Sequential:
    """``(N, c_in, H, W)`` -> ``(N, s.channels, H / s.stride[0] ** s.layers, ...)``: a stem
    conv + BN + GELU and ``s.blocks`` ResBlocks, then per stage a strided ResBlock doubling
    the width and ``s.blocks - 1`` more (the reference ``_make_cnn``)."""
    widths = s.widths
    pad = (s.kernel[0] // 2, s.kernel[1] // 2)
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, widths[0], s.kernel, 1, pad),
        nn.BatchNorm2d(widths[0]),
        nn.GELU(),
    ]
    layers += [ResBlock(widths[0], widths[0], s.kernel) for _ in range(s.blocks)]
    for narrow, wide in zip(widths[:-1], widths[1:], strict=True):
        layers.append(ResBlock(narrow, wide, s.kernel, s.stride))
        layers += [ResBlock(wide, wide, s.kernel) for _ in range(s.blocks - 1)]
    return nn.Sequential(*layers)


def decoder_stack(s: CNNStack, c_out: int) -> nn.Sequential:
    """``(N, s.channels, h, w)`` -> ``(N, c_out, h * s.stride[0] ** s.layers, ...)``: per
    stage ``s.blocks`` transposed ResBlocks (the last halves the width) and nearest
    upsampling by the stride, then ``s.blocks`` transposed ResBlocks and a transposed conv
    to ``c_out`` (the reference ``_make_cnn_transpose``)."""
    widths = s.widths
    pad = (s.kernel[0] // 2, s.kernel[1] // 2)
    layers: list[nn.Module] = []
    for wide, narrow in zip(reversed(widths[1:]), reversed(widths[:-1]), strict=True):
        layers += [ResBlock(wide, wide, s.kernel, transposed=True) for _ in range(s.blocks - 1)]
        layers.append(ResBlock(wide, narrow, s.kernel, transposed=True))
        layers.append(nn.Upsample(scale_factor=s.stride))
    layers += [ResBlock(widths[0], widths[0], s.kernel, transposed=True) for _ in range(s.blocks)]
    layers.append(nn.ConvTranspose2d(widths[0], c_out, s.kernel, 1, pad))
    return nn.Sequential(*layers)


class FragmentEncoder(nn.Module):
    """Fragments ``(N, C, H, W)`` (normalised) -> ``(z_c (N, content_dim), z_s (N, style_dim))``."""

    def __init__(self, c: V3Config) -> None:
        super().__init__()
        inputs = [c.in_channels] + [s.channels for s in c.cnn[:-1]]
        self.stacks = nn.Sequential(
            *(encoder_stack(i, s) for i, s in zip(inputs, c.cnn, strict=True))
        )
        self.joint = nn.Sequential(
            nn.Linear(math.prod(c.map_shape), c.content_dim + c.style_dim), nn.GELU()
        )
        self.content_dim = c.content_dim
        self.content = nn.Linear(c.content_dim, c.content_dim)
        self.style = nn.Linear(c.style_dim, c.style_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.joint(self.stacks(x).flatten(1))
        return self.content(h[:, : self.content_dim]), self.style(h[:, self.content_dim :])


class FragmentDecoder(nn.Module):
    """Codes ``(N, content_dim)`` and ``(N, style_dim)`` -> fragments ``(N, C, H, W)``
    (normalised units). ``stacks[0]`` mirrors the encoder's last stack."""

    def __init__(self, c: V3Config) -> None:
        super().__init__()
        self.content = nn.Sequential(nn.Linear(c.content_dim, c.content_dim), nn.GELU())
        self.style = nn.Sequential(nn.Linear(c.style_dim, c.style_dim), nn.GELU())
        self.map_shape = c.map_shape
        self.joint = nn.Sequential(
            nn.Linear(c.content_dim + c.style_dim, math.prod(self.map_shape)), nn.GELU()
        )
        outputs = [c.in_channels] + [s.channels for s in c.cnn[:-1]]
        self.stacks = nn.Sequential(
            *(decoder_stack(s, o) for s, o in zip(reversed(c.cnn), reversed(outputs), strict=True))
        )

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        h = self.joint(torch.cat([self.content(content), self.style(style)], dim=-1))
        return self.stacks(h.view(-1, *self.map_shape))


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

    def example_batch(self, batch_size: int = 2, fragments: int = 4) -> dict[str, torch.Tensor]:
        """Random samples of ``fragments`` fragments: ``x`` ``(batch_size, fragments, C, H, W)``
        in [0, 1]."""
        c = self.config
        return {"x": torch.rand(batch_size, fragments, c.in_channels, c.height, c.width)}

    def training_items(self, data: FragmentData) -> tuple[Dataset, Any] | None:
        """With ``frequency_mask`` > 0, the training items with :func:`frequency_mask` drawn
        afresh for every sample each time it is served (the reference masks in its loader's
        ``__getitem__``); else None, the plain items. Evaluation reads the data directly."""
        if not self.config.frequency_mask:
            return None
        items = FrequencyMasked(FragmentTorchDataset(data), self.config.frequency_mask)
        return items, default_collate

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Data units -> the network's: ``(x - input_mean) / input_std`` (any shape)."""
        return (x - self.config.input_mean) / self.config.input_std

    def denormalise(self, y: torch.Tensor) -> torch.Tensor:
        """The network's units -> data units: ``y * input_std + input_mean`` (any shape)."""
        return y * self.config.input_std + self.config.input_mean

    def check_input(self, x: torch.Tensor) -> None:
        c = self.config
        if x.ndim != 5 or tuple(x.shape[2:]) != (c.in_channels, c.height, c.width):
            raise UnweaveError(
                f"V3 takes fragments of shape (B, n, {c.in_channels}, {c.height}, {c.width}); "
                f"got {tuple(x.shape)}."
            )

    # ------------------------------------------------------------------ codes

    def fragment_codes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fragments ``(B, n, C, H, W)`` in data units -> ``z_c`` ``(B, n, content_dim)``
        (before VQ) and ``z_s`` ``(B, n, style_dim)``, every fragment encoded on its own."""
        self.check_input(x)
        b, n = x.shape[:2]
        z_c, z_s = self.encoder(self.normalise(x).reshape(b * n, *x.shape[2:]))
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
        ``(M, C, H, W)`` in data units."""
        return self.denormalise(self.decoder(content, style))

    def content_indices(self, x: torch.Tensor) -> torch.Tensor:
        """Fragments ``(B, n, C, H, W)`` -> the codebook atom of each fragment ``(B, n)``."""
        return self.quantize(self.fragment_codes(x)[0])[1]

    def decode(self, style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
        """Style ``(B, d_s)`` (one per sample) or ``(B, n, d_s)`` (one per fragment) and
        content ``(B, n, d_c)`` -> fragments ``(B, n, C, H, W)`` in data units."""
        return self.denormalise(self.reconstruct(style, content))

    def reconstruct(self, style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
        """As :meth:`decode`, in the network's (normalised) units: ``(B, n, C, H, W)``."""
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
        ``recon`` the MSE, in the network's units (``(x - input_mean) / input_std``, as the
        reference's input and target), over all elements of each fragment decoded from its
        own ``VQ(z_c)`` and ``z_s``. The codebook learns from this call (in training mode).
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
        terms = {"recon": F.mse_loss(self.reconstruct(z_s, z_c_vq), self.normalise(x))}
        terms |= v3_terms(z_c, z_c_vq, z_s, c.relativity)
        terms["commit"] = commit
        total = sum(v for k, v in terms.items() if k != "commit")
        total = total + c.commitment_weight * terms["commit"]
        return {"loss": total, **{k: v.detach() for k, v in terms.items()}}

    def export_config(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)
