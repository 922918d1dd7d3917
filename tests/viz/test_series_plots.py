"""Time-series figures: PNGs are written, counts clipped, shapes checked, gaps not drawn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from unweave.errors import UnweaveError
from unweave.viz import series
from unweave.viz.series import plot_reconstructions, plot_static_swap

NAMES = ["temp", "pressure", "humidity"]


def _data(n: int = 2, t: int = 24, f: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, t, f))
    mask = rng.random((n, t, f)) > 0.3
    recon = x + 0.1 * rng.normal(size=x.shape)
    return x, mask, recon


def _assert_png(path) -> None:
    assert path.is_file()
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 1


@pytest.fixture
def figures(monkeypatch):
    """Record every figure the module renders."""
    drawn = []
    real = series.save_figure

    def record(figure, path):
        drawn.append(figure)
        return real(figure, path)

    monkeypatch.setattr(series, "save_figure", record)
    return drawn


def test_reconstructions_png_is_written(tmp_path):
    x, mask, recon = _data()
    out = tmp_path / "nested" / "recon.png"
    path = plot_reconstructions(x, mask, recon, NAMES, out, window=8, title="recon")
    assert path == out
    _assert_png(path)
    assert not list(out.parent.glob(".*"))  # no temporary file left behind


def test_static_swap_png_is_written(tmp_path):
    a, _, b = _data(n=4)
    c = a[::-1].copy()
    path = plot_static_swap(a, b, c, NAMES, str(tmp_path / "swap.png"), window=6, feature=2)
    assert path == tmp_path / "swap.png"
    _assert_png(path)


def test_counts_are_clipped_to_the_data(tmp_path, figures):
    x, mask, recon = _data(n=2)
    plot_reconstructions(x, mask, recon, NAMES, tmp_path / "r.png", n_series=10, max_features=9)
    assert len(figures[-1].axes) == 2 * 3
    plot_static_swap(x, recon, x, NAMES, tmp_path / "s.png", n_pairs=7)
    assert len(figures[-1].axes) == 2


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"mask": np.ones((2, 24, 2), bool)}, "mask"),
        ({"recon": np.zeros((2, 23, 3))}, "recon"),
        ({"x": np.zeros((24, 3))}, "x"),
        ({"feature_names": ["a", "b"]}, "feature_names"),
        ({"n_series": 0}, "n_series"),
        ({"window": 0}, "window"),
    ],
)
def test_reconstruction_arguments_are_checked(tmp_path, kwargs, name):
    x, mask, recon = _data()
    args = {"x": x, "mask": mask, "recon": recon, "feature_names": NAMES} | kwargs
    with pytest.raises(UnweaveError, match=f"'{name}'"):
        plot_reconstructions(path=tmp_path / "r.png", **args)
    assert not (tmp_path / "r.png").exists()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"x_dynamic": np.zeros((2, 24, 4))}, "x_dynamic"),
        ({"swapped": np.zeros((3, 24, 3))}, "swapped"),
        ({"x_static": np.zeros((2, 24, 3, 1))}, "x_static"),
        ({"feature": 3}, "feature"),
        ({"feature": -1}, "feature"),
        ({"n_pairs": 0}, "n_pairs"),
    ],
)
def test_swap_arguments_are_checked(tmp_path, kwargs, name):
    x, _, recon = _data()
    args = {"x_static": x, "x_dynamic": recon, "swapped": x, "feature_names": NAMES} | kwargs
    with pytest.raises(UnweaveError, match=f"'{name}'"):
        plot_static_swap(path=tmp_path / "s.png", **args)


def test_shape_error_names_shapes(tmp_path):
    x, mask, recon = _data()
    with pytest.raises(UnweaveError, match=r"\(2, 23, 3\).*\(2, 24, 3\)"):
        plot_reconstructions(x, mask, recon[:, 1:], NAMES, tmp_path / "r.png")


def test_unobserved_values_are_not_drawn(tmp_path, figures):
    x, mask, recon = _data(n=1)
    mask[0, :, 1] = False  # a whole feature unobserved
    x[0, :, 1] = np.nan
    mask[0, 5:9, 0] = False  # a gap in another
    x[0, 5:9, 0] = 1e6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = plot_reconstructions(x, mask, recon, NAMES, tmp_path / "r.png", window=6)
    _assert_png(path)
    first, unobserved = figures[-1].axes[:2]
    for ax in (first, unobserved):
        for line in ax.lines:
            assert not np.any(np.asarray(line.get_ydata(), float) == 1e6)
    data_lines = [line for line in unobserved.lines if line.get_color() == series.DATA_COLOUR]
    assert data_lines
    assert all(np.isnan(np.asarray(line.get_ydata(), float)).all() for line in data_lines)
