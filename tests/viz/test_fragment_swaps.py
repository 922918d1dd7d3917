"""Swaps of content/style models: source choice, the grid, pictures, and notes as sound."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from unweave.data.audio import stft_magnitude
from unweave.data.fragments import FragmentData
from unweave.errors import UnweaveError
from unweave.models.two_step import TwoStep, TwoStepConfig
from unweave.viz.fragments import (
    fragment_swap_grid,
    note_wave,
    pick_fragment_sources,
    save_fragment_swaps,
)


def toy(n_samples: int = 12, n: int = 4, size: int = 16, seed: int = 0) -> FragmentData:
    rng = np.random.default_rng(seed)
    return FragmentData(
        x=rng.random((n_samples, n, 1, size, size), dtype=np.float32),
        content=rng.integers(0, 5, (n_samples, n)),
        style=np.arange(n_samples) % 6,
        name="toy",
        split="test",
    )


def tiny_model(label: str = "content") -> TwoStep:
    torch.manual_seed(0)
    settings = {"height": 16, "width": 16, "n_classes": 6, "nf": 4, "s_dim": 3, "z_dim": 5}
    return TwoStep(TwoStepConfig.from_dict({**settings, "encoder_dense": 8, "label": label}))


def test_sources_differ_in_style_and_content_where_they_can() -> None:
    data = toy()
    samples, fragments = pick_fragment_sources(data, 5)
    assert len(set(data.style[samples])) == 5
    assert len(set(data.content[samples, fragments])) == 5
    again = pick_fragment_sources(data, 5)
    np.testing.assert_array_equal(samples, again[0])  # seeded
    with pytest.raises(UnweaveError, match="no samples"):
        pick_fragment_sources(toy(n_samples=0), 2)


@pytest.mark.parametrize("label", ["content", "style"])
def test_grid_cells_take_the_row_style_and_the_column_content(label: str) -> None:
    model = tiny_model(label).eval()
    images = torch.rand(3, 1, 16, 16)
    grid = fragment_swap_grid(model, images)
    assert grid.shape == (3, 3, 1, 16, 16)
    content, style, _ = model.content_style_codes(images[None])
    expected = model.decode_content_style(content[2:3], style[1:2])
    torch.testing.assert_close(grid[1, 2], expected[0])
    s, z = model.encode_s(images), model.encode_z(images)
    torch.testing.assert_close(grid[0, 0], model.decode(z, s)[0])  # the diagonal reconstructs


def test_save_fragment_swaps_writes_a_picture(tmp_path: Path) -> None:
    paths = save_fragment_swaps(tiny_model(), toy(), tmp_path / "swap.png", n=4)
    assert paths == [tmp_path / "swap.png"]
    image = Image.open(paths[0])
    assert image.format == "PNG" and image.width == image.height > 4 * 32


def test_a_note_comes_back_with_its_spectrum() -> None:
    pytest.importorskip("tinysoundfont")
    from unweave.data.notes import HOP, N_FFT, RATE, NoteSynth, note_fragments

    wave = NoteSynth().render(41, [64], [100])  # a violin E4
    log_magnitude = note_fragments(wave, 1, bins=128)[0]  # (128, 32)
    meta = {"mean": -3.0, "std": 2.0, "n_fft": N_FFT, "hop": HOP, "bins": 128, "rate": RATE}
    fragment = ((log_magnitude - meta["mean"]) / meta["std"])[None]
    back = note_wave(fragment, meta)
    assert back.dtype == np.float32 and len(back) == 31 * HOP and np.abs(back).max() <= 0.9 + 1e-6
    magnitude = stft_magnitude(back, n_fft=N_FFT, win_length=N_FFT, hop_length=HOP)[:, : N_FFT // 2]
    spectrum = np.log(magnitude.reshape(len(magnitude), 128, 4).mean(2) + 1e-5).mean(0)
    assert np.corrcoef(spectrum, log_magnitude.mean(1))[0, 1] > 0.9
