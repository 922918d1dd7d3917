import torch
from PIL import Image

from unweave.models import build_model
from unweave.viz.swap import save_swap_gif, save_swap_png, swap_grid

TINY = dict(image_size=16, base_channels=8, g_dim=32, f_dim=16, z_dim=8, rnn_size=16)


def test_grid_cells_decode_row_static_with_column_dynamics():
    torch.manual_seed(0)
    model = build_model("dbse", TINY).eval()
    clips = torch.rand(3, 8, 3, 16, 16)
    torch.manual_seed(5)
    grid = swap_grid(model, clips)
    assert grid.shape == (3, 3, 8, 3, 16, 16)
    torch.manual_seed(5)
    latents = model.encode(clips)
    with torch.no_grad():
        cell = model.decode(latents.static.mean[2:3], latents.dynamic.mean[0:1])[0]
    assert torch.allclose(grid[2, 0], cell, atol=1e-5)


def test_png_places_sources_in_the_header(tmp_path):
    clips = torch.zeros(2, 4, 3, 8, 8)
    clips[0, :, 0] = 1.0  # red source clip
    clips[1, :, 1] = torch.linspace(0.2, 1.0, 4)[:, None, None]  # green, brightening over time
    grid = torch.zeros(2, 2, 4, 3, 8, 8)
    path = save_swap_png(clips, grid, tmp_path / "g.png")
    image = Image.open(path).convert("RGB")
    assert image.size == (3 * (4 * 8 + 2) + 6, 3 * (8 + 2) + 6)
    # Header column, row of source 0: red; first swapped cell: black.
    assert image.getpixel((1, (8 + 2) + 6 + 1)) == (255, 0, 0)
    assert image.getpixel(((4 * 8 + 2) + 6 + 1, (8 + 2) + 6 + 1)) == (0, 0, 0)
    gif = save_swap_gif(clips, grid, tmp_path / "g.gif")
    assert Image.open(gif).n_frames == 4
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_sources_differ_in_every_factor():
    from helpers import random_clips

    from unweave.viz.swap import pick_swap_sources

    data = random_clips(n=200)
    chosen = pick_swap_sources(data, 5)
    assert len(chosen) == 5 and list(chosen) == sorted(set(chosen.tolist()))
    assert len(set(data.static["colour"][chosen])) == 5
    assert len(set(data.dynamic["action"][chosen])) == 5
    assert len(pick_swap_sources(random_clips(n=3), 5)) == 3  # fewer clips than asked
