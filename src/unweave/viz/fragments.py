"""Swaps of content/style models: pictures of swapped fragments, and sound for notes.

``fragment_swap_grid`` decodes the content of one fragment with the style of another (any
model with ``content_style_codes`` and ``decode_content_style``: V3, Two-Step);
``save_fragment_swaps`` draws the grid with :func:`unweave.viz.swap.save_swap_png` (fragments
as one-frame clips) and, for instrument notes, writes each swapped note as a WAV rendered by
Griffin-Lim from its log-magnitude spectrogram.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import torch
from torch import nn

from unweave.data.audio import griffin_lim
from unweave.data.fragments import FragmentData
from unweave.errors import UnweaveError
from unweave.viz.swap import _save_atomic, save_swap_png


def pick_fragment_sources(
    data: FragmentData, n: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` fragments as (sample, fragment) index arrays ``(n,)``: from samples of distinct
    styles and of distinct contents where the data allow (a seeded greedy choice)."""
    if len(data) < 1:
        raise UnweaveError(f"{data.name}/{data.split} has no samples to swap.")
    rng = np.random.default_rng(seed)
    samples, fragments, styles, contents = [], [], set(), set()
    for sample in rng.permutation(len(data)):
        if int(data.style[sample]) in styles and len(styles) < len(set(data.style.tolist())):
            continue
        unseen = [
            f
            for f in rng.permutation(data.x.shape[1])
            if int(data.content[sample, f]) not in contents
        ]
        fragment = int(unseen[0]) if unseen else int(rng.integers(data.x.shape[1]))
        samples.append(int(sample))
        fragments.append(fragment)
        styles.add(int(data.style[sample]))
        contents.add(int(data.content[sample, fragment]))
        if len(samples) == n:
            break
    return np.array(samples), np.array(fragments)


@torch.no_grad()
def fragment_swap_grid(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Fragments ``(n, C, H, W)`` -> grid ``(n, n, C, H, W)``: ``grid[i, j]`` has the style of
    fragment ``i`` and the content of fragment ``j`` (the diagonal reconstructs)."""
    model.eval()
    n = len(images)
    content, style, _ = model.content_style_codes(images[None])
    decoded = model.decode_content_style(content.repeat(n, 1), style.repeat_interleave(n, 0))
    return decoded.view(n, n, *images.shape[1:])


def note_wave(fragment: np.ndarray, meta: dict, n_iter: int = 60) -> np.ndarray:
    """A normalised log-magnitude note ``(1, bins, frames)`` -> a float32 wave at
    ``meta["rate"]``: the normalisation and log undone, averaged bins spread back over the
    ``n_fft // 2`` they pooled (a zero Nyquist bin added), phases by Griffin-Lim."""
    log_magnitude = fragment[0] * meta["std"] + meta["mean"]
    magnitude = np.maximum(np.exp(log_magnitude) - 1e-5, 0.0)
    full = np.repeat(magnitude, meta["n_fft"] // 2 // meta["bins"], axis=0)
    full = np.concatenate([full, np.zeros((1, full.shape[1]))]).T  # (frames, n_fft // 2 + 1)
    n_fft, hop = meta["n_fft"], meta["hop"]
    wave = griffin_lim(full.astype(np.float32), n_fft, n_fft, hop, n_iter=n_iter)
    return (0.9 * wave / max(np.abs(wave).max(), 1e-8)).astype(np.float32)


def _display(images: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Spectrogram fragments scaled to [0, 1] by the sources' range, low frequencies at the
    bottom; images in [0, 1] are returned as they are."""
    return ((images - low) / (high - low)).clamp(0, 1).flip(-2)


def save_fragment_swaps(
    model: nn.Module, data: FragmentData, out: str | Path, n: int = 5, seed: int = 0
) -> list[Path]:
    """Write the swap grid of ``n`` test fragments as the PNG ``out`` (first row: content
    sources; first column: style sources) and, for notes, the swapped notes as WAVs in
    ``<out without suffix>-audio/`` named by style and content. Returns the paths written."""
    samples, fragments = pick_fragment_sources(data, n, seed)
    images = torch.from_numpy(np.asarray(data.x[samples, fragments], dtype=np.float32))
    device = next(model.parameters()).device
    grid = fragment_swap_grid(model, images.to(device)).cpu()
    out = Path(out)
    is_audio = "n_fft" in data.meta
    if is_audio:
        low, high = float(images.min()), float(images.max())
        shown_sources, shown_grid = _display(images, low, high), _display(grid, low, high)
    else:
        shown_sources, shown_grid = images, grid
    scale = 1 if images.shape[-2] > 64 else 2
    paths = [save_swap_png(shown_sources[:, None], shown_grid[:, :, None], out, scale=scale)]
    if is_audio:
        names = data.meta["value_names"]
        folder = out.with_name(f"{out.stem}-audio")
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            for j in range(n):
                style = names["style"][int(data.style[samples[i]])]
                content = names["content"][int(data.content[samples[j], fragments[j]])]
                path = folder / f"{i}{j}-{style}-plays-{content}.wav".replace(" ", "_")
                wave = note_wave(grid[i, j].numpy(), data.meta)
                _save_atomic(
                    lambda p, w=wave: soundfile.write(p, w, data.meta["rate"], format="WAV"), path
                )
                paths.append(path)
    return paths
