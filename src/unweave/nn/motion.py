"""Motion pseudo-labels from the frames themselves: where a clip moves and which way.

S3VAE (Zhu et al., CVPR 2020) trains its dynamic code to predict, for each frame and each
cell of a 3x3 grid, whether the cell moves and the direction of its optical flow in 8 bins
("grid the optical flow map with indices"). The authors' labels were made offline with a
flow network; their file is committed with the authors' code as a large file that could not
be retrieved here (training split only), and how it was made is not in the code. Here each cell's flow between consecutive frames is one
Lucas-Kanade translation (Lucas & Kanade, 1981): the least-squares ``v`` of
``I_x v_x + I_y v_y + I_t = 0`` over the cell's pixels, on the greyscale frames. Written by
hand: it is a few tensor operations that run on the training device for every batch, where
an image library's flow would run on the CPU, frame pair by frame pair.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def patch_flow(frames: torch.Tensor, grid: int = 3) -> torch.Tensor:
    """Frames ``(B, T, C, H, W)`` in [0, 1] -> each grid cell's flow from frame t - 1 to t,
    ``(B, T - 1, grid * grid, 2)`` as (x right, y up) in pixels, cells in row-major order."""
    grey = frames.mean(2)
    before, after = grey[:, :-1], grey[:, 1:]
    middle = (before + after) / 2
    dy, dx = torch.gradient(middle, dim=(-2, -1))
    dt = after - before

    def cell_mean(values: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(values.flatten(0, 1), grid)
        return pooled.view(*values.shape[:2], grid * grid)

    sxx, syy, sxy = cell_mean(dx * dx), cell_mean(dy * dy), cell_mean(dx * dy)
    sxt, syt = cell_mean(dx * dt), cell_mean(dy * dt)
    det = sxx * syy - sxy * sxy
    det = torch.where(det.abs() < 1e-8, torch.full_like(det, float("inf")), det)
    vx = (-syy * sxt + sxy * syt) / det
    vy = (sxy * sxt - sxx * syt) / det
    return torch.stack([vx, -vy], dim=-1)  # image rows grow downwards


def motion_labels(
    frames: torch.Tensor, grid: int = 3, threshold: float = 0.5, bins: int = 8
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames ``(B, T, C, H, W)`` -> ``moving`` ``(B, T, grid * grid)`` (bool: the cell's
    flow into frame t is at least ``threshold`` pixels; frame 0 never moves) and
    ``direction`` ``(B, T, grid * grid)`` (the flow's angle in ``bins`` sectors, sector 0
    centred on "right", counter-clockwise; meaningful where ``moving``)."""
    flow = patch_flow(frames, grid)
    speed = flow.norm(dim=-1)
    angle = torch.atan2(flow[..., 1], flow[..., 0])
    sector = torch.round(angle / (2 * math.pi / bins)).long() % bins
    still = torch.zeros_like(speed[:, :1], dtype=torch.bool)
    moving = torch.cat([still, speed >= threshold], dim=1)
    direction = torch.cat([torch.zeros_like(sector[:, :1]), sector], dim=1)
    return moving, direction
