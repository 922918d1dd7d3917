"""Swap grids: rows take the static code of one clip, columns the dynamics of another.

``swap_grid`` computes the grid of decoded clips; ``save_swap_png`` draws it as a picture
(each cell a strip of the clip's frames, the sources in a header row and column) and
``save_swap_gif`` animates it (each cell one frame at a time).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from unweave.data.base import SequenceData
from unweave.models import SequentialVAE

GAP = 2  # pixels between cells
HEADER_GAP = 6  # pixels between the header row/column and the swapped cells


def pick_swap_sources(data: SequenceData, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``n`` clips that differ in every factor where the data allow.

    Clips are visited in a seeded random order and kept when their dynamic labels and their
    static labels are both unseen; the rest is filled in the same order.
    """
    order = np.random.default_rng(seed).permutation(len(data))
    seen_static: set[tuple] = set()
    seen_dynamic: set[tuple] = set()
    chosen: list[int] = []
    for index in order:
        static = tuple(int(v[index]) for v in data.static.values())
        dynamic = tuple(int(v[index]) for v in data.dynamic.values())
        if static not in seen_static and dynamic not in seen_dynamic:
            chosen.append(int(index))
            seen_static.add(static)
            seen_dynamic.add(dynamic)
            if len(chosen) == n:
                break
    rest = [int(i) for i in order if int(i) not in chosen]
    return np.sort(np.array(chosen + rest[: n - len(chosen)]))


@torch.no_grad()
def swap_grid(model: SequentialVAE, clips: torch.Tensor) -> torch.Tensor:
    """Clips ``(n, T, C, H, W)`` in [0, 1] -> grid ``(n, n, T, C, H, W)``.

    ``grid[i, j]`` decodes the static code of clip ``i`` with the dynamic code of clip ``j``
    (posterior means); the diagonal is the plain reconstruction.
    """
    latents = model.encode(clips)
    n = clips.shape[0]
    static = latents.static_to_decode.repeat_interleave(n, 0)
    dynamic = latents.dynamic.mean.repeat(n, 1, 1)
    return model.decode(static, dynamic).view(n, n, *clips.shape[1:])


def _to_uint8(frames: torch.Tensor) -> np.ndarray:
    """``(..., C, H, W)`` in [0, 1] -> ``(..., H, W, 3)`` uint8."""
    array = (frames.clamp(0, 1) * 255).round().byte().cpu().numpy()
    array = np.moveaxis(array, -3, -1)
    return np.repeat(array, 3, -1) if array.shape[-1] == 1 else array


def _canvas(
    sources: np.ndarray, grid: np.ndarray, cell_w: int, cell_h: int, frame_of
) -> Image.Image:
    """Place header row (dynamic sources), header column (static sources) and cells."""
    n = sources.shape[0]
    step_w, step_h = cell_w + GAP, cell_h + GAP
    width = step_w * (n + 1) + HEADER_GAP
    height = step_h * (n + 1) + HEADER_GAP
    image = Image.new("RGB", (width, height), (255, 255, 255))
    for k in range(n):
        image.paste(Image.fromarray(frame_of(sources[k])), (step_w * (k + 1) + HEADER_GAP, 0))
        image.paste(Image.fromarray(frame_of(sources[k])), (0, step_h * (k + 1) + HEADER_GAP))
        for j in range(n):
            pos = (step_w * (j + 1) + HEADER_GAP, step_h * (k + 1) + HEADER_GAP)
            image.paste(Image.fromarray(frame_of(grid[k, j])), pos)
    draw = ImageDraw.Draw(image)
    draw.line(
        [(0, step_h + HEADER_GAP // 2 - 1), (width, step_h + HEADER_GAP // 2 - 1)], (180,) * 3
    )
    draw.line(
        [(step_w + HEADER_GAP // 2 - 1, 0), (step_w + HEADER_GAP // 2 - 1, height)], (180,) * 3
    )
    return image


def _save_atomic(image_save, path: Path) -> None:
    """Call ``image_save(tmp_path)`` on a temporary file that replaces ``path`` only when
    complete; on any error (a full disk) neither a cut file nor the temporary is left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        image_save(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_swap_png(
    clips: torch.Tensor, grid: torch.Tensor, path: str | Path, scale: int = 1
) -> Path:
    """Draw ``grid`` (from :func:`swap_grid`) as a PNG: each cell a strip of all frames.

    The first row shows the dynamic sources, the first column the static sources.
    """
    sources, cells = _to_uint8(clips), _to_uint8(grid)
    t, h, w = sources.shape[1:4]

    def strip(clip: np.ndarray) -> np.ndarray:  # (T, H, W, 3) -> (H, T*W, 3)
        return np.concatenate(list(clip), axis=1)

    image = _canvas(sources, cells, t * w, h, strip)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    path = Path(path)
    _save_atomic(lambda p: image.save(p, format="PNG"), path)
    return path


def save_swap_gif(
    clips: torch.Tensor,
    grid: torch.Tensor,
    path: str | Path,
    scale: int = 2,
    ms_per_frame: int = 150,
) -> Path:
    """Animate ``grid`` as a GIF: every cell plays its clip, the sources in the header."""
    sources, cells = _to_uint8(clips), _to_uint8(grid)
    t, h, w = sources.shape[1:4]
    frames = []
    for step in range(t):
        image = _canvas(sources, cells, w, h, lambda clip, s=step: clip[s])
        frames.append(image.resize((image.width * scale, image.height * scale), Image.NEAREST))
    path = Path(path)
    _save_atomic(
        lambda p: frames[0].save(
            p, format="GIF", save_all=True, append_images=frames[1:], duration=ms_per_frame, loop=0
        ),
        path,
    )
    return path
