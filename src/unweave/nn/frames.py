"""DCGAN frame encoder and decoder shared by the video models (DBSE, DSVAE).

The reference (DBSE `dbse_utils.py`, after Denton & Fergus 2018) uses, at 64x64, four
stride-2 blocks (Conv 4x4, BatchNorm, LeakyReLU 0.2) with 64-128-256-512 channels, then a
4x4 valid convolution to ``g_dim`` with BatchNorm and Tanh; the decoder mirrors it with
transposed convolutions and ends in a Sigmoid. Here the number of blocks follows the frame
size (``log2(size / 4)``: 4 at 64x64, 3 at 32x32) and the width is ``base_channels``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from unweave.errors import UnweaveError


def num_blocks(image_size: int) -> int:
    """Stride-2 blocks that bring ``image_size`` down to 4 (a power of two >= 8)."""
    blocks = math.log2(image_size / 4)
    if image_size < 8 or blocks != int(blocks):
        raise UnweaveError(
            f"model.image_size is {image_size}; expected a power of two >= 8 (e.g. 32 or 64)."
        )
    return int(blocks)


class FrameEncoder(nn.Module):
    """Frames ``(B, C, H, W)`` in [0, 1] -> features ``(B, g_dim)`` in (-1, 1).

    With ``channels_last`` (the default) the activations are kept channels-last, the
    layout oneDNN's CPU convolutions are fastest in; the arithmetic is the same.
    """

    channels_last: bool = True

    def __init__(
        self, g_dim: int, image_size: int = 64, channels: int = 3, base_channels: int = 64
    ):
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = channels
        for i in range(num_blocks(image_size)):
            out_ch = base_channels * 2**i
            layers += [
                nn.Conv2d(in_ch, out_ch, 4, 2, 1),
                nn.BatchNorm2d(out_ch),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            in_ch = out_ch
        layers += [nn.Conv2d(in_ch, g_dim, 4, 1, 0), nn.BatchNorm2d(g_dim), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            frames = frames.contiguous(memory_format=torch.channels_last)
        return self.net(frames).flatten(1)


class VectorConvTranspose2d(nn.ConvTranspose2d):
    """A transposed convolution whose ``(B, C_in, 1, 1)`` inputs are computed as one matrix
    product (``(B, C_in) @ (C_in, C_out * k * k)``): the same parameters and result as
    ``nn.ConvTranspose2d`` without its slow im2col path; other inputs take that path.
    The output is channels-last when ``channels_last`` is set.
    """

    channels_last: bool = True

    def forward(self, codes: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        plain = (self.padding, self.output_padding, self.dilation, self.groups)
        if codes.shape[-2:] != (1, 1) or plain != ((0, 0), (0, 0), (1, 1), 1) or output_size:
            return super().forward(codes, output_size)
        c_out, (kh, kw) = self.out_channels, self.kernel_size
        flat = torch.addmm(
            self.bias.repeat_interleave(kh * kw) if self.bias is not None else codes.new_zeros(1),
            codes.flatten(1),
            self.weight.flatten(1),
        )
        out = flat.view(len(codes), c_out, kh, kw)
        return out.contiguous(memory_format=torch.channels_last) if self.channels_last else out


class FrameDecoder(nn.Module):
    """Codes ``(B, in_dim)`` -> frames ``(B, C, H, W)`` in (0, 1)."""

    def __init__(
        self, in_dim: int, image_size: int = 64, channels: int = 3, base_channels: int = 64
    ):
        super().__init__()
        blocks = num_blocks(image_size)
        ch = base_channels * 2 ** (blocks - 1)
        layers: list[nn.Module] = [
            VectorConvTranspose2d(in_dim, ch, 4, 1, 0),
            nn.BatchNorm2d(ch),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for _ in range(blocks - 1):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1),
                nn.BatchNorm2d(ch // 2),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.net(codes[:, :, None, None])


def init_reference_weights(module: nn.Module) -> None:
    """The DBSE reference initialisation (``video_utils.init_weights``).

    Conv2d and Linear weights ~ N(0, 0.01) with zero bias; BatchNorm weight 1, bias 0;
    transposed convolutions and LSTMs keep PyTorch's defaults.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, 0.01)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)


def prepare_frames(frames: torch.Tensor, image_size: int) -> torch.Tensor:
    """uint8 ``(B, T, C, H, W)`` -> float in [0, 1], resized (area) to ``image_size`` if needed.

    Runs on the training device, so the loader moves 4x fewer bytes than with float frames.
    """
    x = frames.float() / 255.0 if frames.dtype == torch.uint8 else frames.float()
    if x.shape[-1] != image_size or x.shape[-2] != image_size:
        b, t = x.shape[:2]
        x = F.interpolate(x.flatten(0, 1), size=(image_size, image_size), mode="area")
        x = x.view(b, t, *x.shape[1:])
    return x
