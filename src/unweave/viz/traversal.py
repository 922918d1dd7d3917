"""Latent traversals: one row per code dimension, the image decoded as that dimension moves.

For a model with ``representation(x)`` (codes ``(B, D)``) and ``decode(z)`` (images in [0, 1])
from one image: each row keeps the image's code and sets one dimension to ``n_steps`` values
evenly spaced over ``[-limit, limit]`` (the prior's range; disentanglement_lib's
``latent_traversal`` figures use the same fixed range). Rows are labelled with the
dimension's spread over the data (the standard deviation of its codes): near-zero rows are
dimensions the model does not use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from unweave.viz.plots import save_figure


@torch.no_grad()
def traversal_grid(
    model: nn.Module, image: torch.Tensor, n_steps: int = 9, limit: float = 2.0
) -> torch.Tensor:
    """One image ``(C, H, W)`` -> decoded traversals ``(D, n_steps, C, H, W)``."""
    model.eval()
    code = model.representation(image[None])[0]
    dims = code.shape[0]
    values = torch.linspace(-limit, limit, n_steps, device=code.device)
    codes = code.repeat(dims, n_steps, 1)  # (D, n_steps, D)
    codes[torch.arange(dims), :, torch.arange(dims)] = values
    return model.decode(codes.flatten(0, 1)).view(dims, n_steps, *image.shape)


def save_traversals(
    model: nn.Module,
    images: np.ndarray,
    path: str | Path,
    spread: np.ndarray | None = None,
    n_steps: int = 9,
    limit: float = 2.0,
) -> Path:
    """Draw the traversals of each image of ``images`` ``(n, C, H, W)`` (float in [0, 1]) side
    by side as one PNG at ``path``; ``spread`` ``(D,)`` labels the rows."""
    device = next(model.parameters()).device
    grids = [
        traversal_grid(
            model, torch.from_numpy(np.asarray(image, np.float32)).to(device), n_steps, limit
        )
        for image in images
    ]
    dims = grids[0].shape[0]
    figure = Figure(figsize=(0.6 * n_steps * len(grids) + 0.8, 0.6 * dims + 0.6))
    axes = figure.subplots(dims, len(grids), squeeze=False)
    for column, grid in enumerate(grids):
        for row in range(dims):
            strip = grid[row].clamp(0, 1).cpu().numpy()  # (n_steps, C, H, W)
            strip = np.concatenate(list(np.moveaxis(strip, 1, -1)), axis=1)  # (H, n*W, C)
            ax = axes[row, column]
            ax.imshow(strip[..., 0] if strip.shape[-1] == 1 else strip, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if column == 0:
                label = f"z{row}" if spread is None else f"z{row}\nsd {spread[row]:.2f}"
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    figure.suptitle(f"each row: one code dimension from -{limit:g} to +{limit:g}", fontsize=9)
    return save_figure(figure, path)
