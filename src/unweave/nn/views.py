"""Views of a clip for contrastive methods: one that keeps what stays, one that keeps what moves.

C-DSVAE (Bai, Wang & Gomes, NeurIPS 2021) pairs each clip with a *content* augmentation,
its frames in a random order (the look is kept, the motion destroyed), and a *motion*
augmentation, its frames recoloured and blurred alike (the motion is kept, the look
changed). The reference reads views made offline (its ``data.pkl``, whose making is not
published); the recolouring here is unweave's choice after SimCLR (Chen et al., ICML 2020):
colour jitter (brightness, contrast, saturation 0.8, hue 0.2) with probability 0.8,
greyscale with probability 0.2, a 3x3 Gaussian blur (sigma in [0.1, 2]) with probability
0.5; no cropping or reshaping. The views are drawn on the device for each batch, one draw of
every parameter per clip so that all its frames change alike.
Written by hand: torchvision's transforms would draw per call, not per clip in a batch, and
torchvision is not a dependency.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: ITU-R 601 luma weights, as torchvision's greyscale uses.
LUMA = (0.299, 0.587, 0.114)
#: RGB <-> YIQ: a hue shift is a rotation of the (I, Q) plane.
RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def shuffle_frames(clips: torch.Tensor) -> torch.Tensor:
    """Each clip's frames in its own random order: ``(B, T, ...)`` -> ``(B, T, ...)``."""
    order = torch.rand(clips.shape[:2], device=clips.device).argsort(dim=1)
    index = order.view(*order.shape, *([1] * (clips.ndim - 2))).expand_as(clips)
    return clips.gather(1, index)


def distort_colours(clips: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """SimCLR's colour distortion and blur, drawn once per clip: ``(B, T, C, H, W)`` in
    [0, 1] -> the same shape in [0, 1]. Saturation, hue and greyscale need ``C == 3``."""
    batch, rgb = clips.shape[0], clips.shape[2] == 3

    def draw(low: float, high: float) -> torch.Tensor:
        shape = (batch, 1, 1, 1, 1)
        return torch.empty(shape, device=clips.device, dtype=clips.dtype).uniform_(low, high)

    def chance(p: float) -> torch.Tensor:
        return draw(0.0, 1.0) < p

    jitter = 0.8 * strength
    out = (clips * draw(1 - jitter, 1 + jitter)).clamp(0, 1)  # brightness
    mean = _grey(out).mean(dim=(-3, -2, -1), keepdim=True)
    out = _blend(out, mean, draw(1 - jitter, 1 + jitter))  # contrast
    if rgb:
        out = _blend(out, _grey(out), draw(1 - jitter, 1 + jitter))  # saturation
        out = _rotate_hue(out, draw(-0.2 * strength, 0.2 * strength))
    out = torch.where(chance(0.8), out, clips)
    if rgb:
        out = torch.where(chance(0.2), _grey(out).expand_as(out), out)
    return torch.where(chance(0.5), _blur(out, draw(0.1, 2.0)), out)


def _grey(x: torch.Tensor) -> torch.Tensor:
    """Luma of ``(..., C, H, W)`` as ``(..., 1, H, W)`` (the image itself when C != 3)."""
    if x.shape[-3] != 3:
        return x
    weights = x.new_tensor(LUMA).view(3, 1, 1)
    return (x * weights).sum(dim=-3, keepdim=True)


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``factor * x + (1 - factor) * other``, clamped to [0, 1]."""
    return (factor * x + (1 - factor) * other).clamp(0, 1)


def _rotate_hue(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Shift the hue of RGB ``(B, T, 3, H, W)`` by ``turns`` of the colour wheel (per clip),
    as a rotation in YIQ space."""
    to_yiq = RGB_TO_YIQ.to(x)
    angle = 2 * math.pi * turns.view(-1)
    cos, sin = angle.cos(), angle.sin()
    rotation = torch.zeros(len(angle), 3, 3, device=x.device, dtype=x.dtype)
    rotation[:, 0, 0] = 1
    rotation[:, 1, 1], rotation[:, 1, 2] = cos, -sin
    rotation[:, 2, 1], rotation[:, 2, 2] = sin, cos
    transform = torch.linalg.inv(to_yiq) @ rotation @ to_yiq  # (B, 3, 3)
    return torch.einsum("bij,btjhw->btihw", transform, x).clamp(0, 1)


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """A 3x3 Gaussian blur with a ``sigma`` per clip and reflected borders."""
    b, t, c, h, w = x.shape
    taps = torch.exp(-x.new_tensor([1.0, 0.0, 1.0]) / (2 * sigma.view(b, 1) ** 2))
    taps = (taps / taps.sum(dim=1, keepdim=True)).view(b, 1, 1, 3)
    padded = F.pad(x.reshape(b, t * c, h, w), (1, 1, 1, 1), mode="reflect")
    rows = taps[..., 0:1] * padded[..., :-2, :] + taps[..., 1:2] * padded[..., 1:-1, :]
    rows = rows + taps[..., 2:3] * padded[..., 2:, :]
    out = taps[..., 0:1] * rows[..., :-2] + taps[..., 1:2] * rows[..., 1:-1]
    out = out + taps[..., 2:3] * rows[..., 2:]
    return out.view(b, t, c, h, w)


def reshape_spectrum(chunks: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """The motion view of speech, a choice of unweave (C-DSVAE's audio views are not
    published): each chunk's magnitude spectrum ``(B, T, F)`` times one smooth random
    frequency response, drawn per chunk so every frame changes alike. The response is
    ``exp(a + b cos(pi f) + c cos(2 pi f))`` over the normalised frequency f in [0, 1], with
    a, b, c uniform in ``+-0.5 strength``: the level and tilt of the voice change (as
    colours change in the video view), what is said and when does not."""
    batch, bins = chunks.shape[0], chunks.shape[-1]
    frequency = torch.linspace(0, 1, bins, device=chunks.device, dtype=chunks.dtype)
    basis = torch.stack([torch.ones_like(frequency), torch.cos(math.pi * frequency),
                         torch.cos(2 * math.pi * frequency)])  # fmt: skip
    weights = torch.empty(batch, 3, device=chunks.device, dtype=chunks.dtype)
    weights.uniform_(-0.5 * strength, 0.5 * strength)
    return chunks * torch.exp(weights @ basis)[:, None, :]
