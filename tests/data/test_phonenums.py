"""PhoneNums, rendered as V3's reference generator does (number_office.py + typography.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib import colors

from unweave.data.phonenums import (
    BACKGROUND,
    OOD_PALETTE,
    PALETTE,
    add_noise,
    blur_kernels,
    default_font,
    draw_distortions,
    foreground,
    glyph_shift,
    load_font,
    load_phonenums,
    render_glyphs,
    split_pages,
    split_sizes,
    vertical_blur,
)
from unweave.data.registry import data_modality, datasets_of, load_data
from unweave.errors import UnweaveError

# The reference's palettes, in order (number_office.py:31-40, phonenums_dataloader_ood.py:10-19).
TRAINING_COLOURS = ["black", "blue", "green", "red", "teal", "purple", "orange", "brown"]
HELD_OUT_COLOURS = ["pink", "salmon", "gold", "lime", "cyan", "magenta", "gray", "peru"]
# cv2.GaussianBlur((k, k), 0) of a one-pixel-wide float64 column holding one 1 (row 24 of 48),
# measured with opencv-python-headless 4.9.0.80, the reference's pinned version: the taps
# (5, 7 and 9 are OpenCV's fixed tables, larger sizes a sampled Gaussian, half shown).
OPENCV_TAPS = {
    5: [0.0625, 0.25, 0.375],
    7: [0.03125, 0.10938, 0.21875, 0.28125],
    9: [0.01562, 0.05078, 0.11719, 0.19922, 0.23438],
    11: [0.00881, 0.02714, 0.06511, 0.12165, 0.177, 0.20057],
    13: [0.0058, 0.0164, 0.0384, 0.07441, 0.11937, 0.15851, 0.17422],
}
N_PAGES, N_OOD = 40, 16


@pytest.fixture(scope="module")
def splits() -> dict:
    """All four splits of 40 training-colour pages (32 / 4 / 4) and 16 held-out ones."""
    return {
        s: load_phonenums(s, n_pages=N_PAGES, n_ood_pages=N_OOD)
        for s in ("train", "valid", "test", "ood")
    }


def ink_colour(x: np.ndarray) -> np.ndarray:
    """Per page of ``x (N, n, 3, H, W)``: the median of its 3% pixels farthest from the
    background colour, 0-255 ``(N, 3)``."""
    pixels = x.transpose(0, 1, 3, 4, 2).reshape(len(x), -1, 3) * 255
    paper = np.median(pixels, axis=1, keepdims=True)
    distance = np.linalg.norm(pixels - paper, axis=-1)
    far = np.argsort(distance, axis=1)[:, -distance.shape[1] * 3 // 100 :]
    return np.median(np.take_along_axis(pixels, far[..., None], axis=1), axis=1)


def test_colours_are_the_references() -> None:
    assert list(PALETTE) == TRAINING_COLOURS and list(OOD_PALETTE) == HELD_OUT_COLOURS
    for name, rgb in {**PALETTE, **OOD_PALETTE}.items():
        reference = [int(c * 240 + 8) for c in colors.to_rgb(name)]  # number_office.py:51-52
        assert foreground(rgb).tolist() == reference, name
    assert foreground(PALETTE["black"]).tolist() == [8, 8, 8]
    assert foreground(OOD_PALETTE["gray"]).tolist() == [128, 128, 128]


def test_shapes_sizes_and_labels(splits: dict) -> None:
    assert split_sizes(1000) == {"train": 800, "valid": 100, "test": 100, "ood": 1000}
    assert split_sizes(45, 7) == {"train": 37, "valid": 4, "test": 4, "ood": 7}
    sizes = split_sizes(N_PAGES, N_OOD)
    for split, data in splits.items():
        n = sizes[split]
        assert data.x.shape == (n, 10, 3, 48, 32) and data.x.dtype == np.float32
        assert data.x.min() >= 0 and data.x.max() <= 1
        assert data.content.shape == (n, 10) and data.style.shape == (n,)
        assert data.name == "phonenums" and data.split == split
        for row in data.content:  # every digit once per page
            assert sorted(row.tolist()) == list(range(10))
        np.testing.assert_array_equal(data.style, data.meta["page"] % 8)  # page i: colour i % 8
        assert data.meta["value_names"]["content"] == [str(d) for d in range(10)]
    content = splits["train"].content
    assert (content != np.arange(10)).any(axis=1).all()  # shuffled, not 0-9 in order
    assert all(len(set(column)) >= 6 for column in content.T.tolist())  # each place varies
    pages = [splits[s].meta["page"] for s in ("train", "valid", "test")]
    assert sorted(np.concatenate(pages).tolist()) == list(range(N_PAGES))  # disjoint, complete
    assert splits["train"].meta["value_names"]["style"] == TRAINING_COLOURS
    assert splits["ood"].meta["value_names"]["style"] == HELD_OUT_COLOURS
    ood = splits["ood"]
    np.testing.assert_array_equal(ood.meta["page"], np.arange(N_OOD))
    np.testing.assert_array_equal(ood.meta["shot_rank"], np.arange(N_OOD) // 8)
    assert np.bincount(ood.style).tolist() == [2] * 8  # 1- and 2-shot sets of every colour


def test_split_is_shuffled_by_seed() -> None:
    first, other = split_pages(1000, seed=0), split_pages(1000, seed=1)
    assert [len(first[s]) for s in ("train", "valid", "test")] == [800, 100, 100]
    assert not np.array_equal(first["valid"], other["valid"])
    assert first["valid"].max() > 800 and first["valid"].min() < 200  # not a contiguous cut


def test_pages_are_written_in_their_colour_on_245(splits: dict) -> None:
    every = {**PALETTE, **OOD_PALETTE}
    inks = foreground(np.array(list(every.values())))
    for split, palette in (("train", PALETTE), ("ood", OOD_PALETTE)):
        # The same pages with the noise clipped, not wrapped: its specks would be the pixels
        # farthest from the paper. Both differ only where the noise wrapped (or by rounding).
        data = load_phonenums(split, n_pages=N_PAGES, n_ood_pages=N_OOD, wrap_noise=False)
        same = np.abs(data.x - splits[split].x) * 255 <= 1
        assert same.mean() > 0.95 and np.array_equal(data.content, splits[split].content)
        measured = ink_colour(data.x)
        expected = foreground(np.array(list(palette.values())))[data.style]
        assert np.abs(measured - expected).max() <= 12  # +-2 page, +-2 digit, noise, blur
        nearest = np.linalg.norm(measured[:, None] - inks[None], axis=-1).argmin(axis=1)
        names = [list(every)[i] for i in nearest]
        assert names == [list(palette)[s] for s in data.style]  # ood: held-out colours only
        top = data.x[:, :, :, :2].transpose(0, 2, 1, 3, 4).reshape(len(data), 3, -1) * 255
        paper = np.nanmedian(np.where(top > 200, top, np.nan), axis=-1)  # less wrapped specks
        assert np.abs(paper - BACKGROUND).max() <= 4  # 245 +- 2, and the noise cut at 256


def test_each_patch_shows_its_digit(splits: dict) -> None:
    font = load_font(default_font())
    zero = np.zeros((1, 10))
    templates = render_glyphs(np.arange(10)[None], zero, zero, font)[0].reshape(10, -1)
    templates -= templates.mean(axis=1, keepdims=True)
    data = splits["train"]
    pixels = data.x.transpose(0, 1, 3, 4, 2) * 255
    paper = np.median(pixels.reshape(len(data), -1, 3), axis=1)[:, None, None, None]
    ink = np.linalg.norm(pixels - paper, axis=-1).reshape(-1, 48 * 32)
    ink -= ink.mean(axis=1, keepdims=True)
    scores = ink @ templates.T / np.linalg.norm(templates, axis=1)
    assert (scores.argmax(axis=1) == data.content.ravel()).mean() > 0.97


def test_digits_are_centred_in_their_patch() -> None:
    font = load_font(default_font())
    assert glyph_shift(font) == -1.0  # DejaVu Sans; ITC Kristen's -8 in the reference
    zero = np.zeros((1, 10))
    alpha = render_glyphs(np.arange(10)[None], zero, zero, font)[0]
    for glyph in alpha:
        rows, cols = np.nonzero(glyph > 0.5)
        assert abs((rows.min() + rows.max()) / 2 - 26.5) <= 1.5  # where the reference's sit
        assert abs((cols.min() + cols.max()) / 2 - 15.5) <= 2
        assert rows.max() - rows.min() >= 30  # large: 48-pixel type
    assert alpha[:, [0, -1]].max() == 0 and alpha[:, :, [0, -1]].max() == 0  # nothing cut off
    shifted = render_glyphs(np.arange(10)[None], zero + 0.99, zero + 0.99, font)[0]
    assert not np.array_equal(shifted, alpha)  # the U(0, 1) offsets reach Pillow


def test_blur_is_opencvs_on_each_column() -> None:
    for size, half in OPENCV_TAPS.items():
        column = np.zeros((1, 1, 48, 1))
        column[..., 24, 0] = 1
        blurred = vertical_blur(column, np.full((1, 1, 1), size))[0, 0, :, 0]
        radius = size // 2
        expected = half + half[-2::-1]
        np.testing.assert_allclose(blurred[24 - radius : 25 + radius], expected, atol=6e-6)
        assert np.abs(np.delete(blurred, np.arange(24 - radius, 25 + radius))).max() == 0
    edge = np.zeros((1, 1, 48, 1))
    edge[..., 0, 0] = 1  # OpenCV's reflect-101 border: the edge row is not repeated
    blurred = vertical_blur(edge, np.full((1, 1, 1), 5))[0, 0, :4, 0]
    np.testing.assert_allclose(blurred, [0.375, 0.25, 0.0625, 0])
    two = np.zeros((1, 1, 48, 2))
    two[..., 24, :] = 1
    kernels = np.array([[[5, 13]]])  # each column its own kernel, no mixing across columns
    blurred = vertical_blur(two, kernels)[0, 0]
    assert blurred[24, 0] == 0.375 and abs(blurred[24, 1] - 0.17422) < 1e-5


def test_blur_kernel_sizes_ramp_like_the_reference() -> None:
    rng = np.random.default_rng(0)
    kernels = blur_kernels(rng, 3000, 10, 32).reshape(3000, 10, 32)
    levels = kernels[:, :, 0]
    share = np.array([(levels == k).mean() for k in (5, 9, 13)])
    np.testing.assert_allclose(share, [11 / 18, 5 / 18, 2 / 18], atol=0.01)
    assert set(np.unique(kernels).tolist()) <= {5, 7, 9, 11, 13}
    np.testing.assert_array_equal(kernels[:, :-1, -1], levels[:, 1:])  # ramps to the next
    assert (kernels[:, -1] == levels[:, -1:]).all()  # the last strip keeps its own
    rising = np.diff(kernels[:, :-1], axis=-1)
    up = levels[:, 1:] >= levels[:, :-1]
    assert (rising[up] >= 0).all() and (rising[~up] <= 0).all()
    wide = draw_distortions(rng, np.zeros((50, 3)), 20, 32, 10).kernels  # a 20-digit page
    assert wide.shape == (50, 20, 32)
    strips = wide.reshape(50, 10, 64)  # 10 strips of 64 columns, as typography.py:16
    assert (strips[:, :-1, -1] == strips[:, 1:, 0]).all()


def test_noise_is_added_as_the_reference_does() -> None:
    pixels = np.full((400, 3, 8, 8), 245, dtype=np.uint8)
    pixels[:200] = 8
    sigma = np.full(400, 10.0)
    wrapped = add_noise(pixels, sigma, np.random.default_rng(3), wrap=True)
    noise = np.random.default_rng(3).normal(size=pixels.shape) * 10
    reference = pixels.copy()
    reference += np.uint8(noise)  # typography.py:178-180
    np.testing.assert_array_equal(wrapped, reference)
    assert (wrapped[200:] < 20).mean() > 0.05  # paper + noise past 255 wraps to near black
    assert (wrapped[:200] > 230).mean() > 0.1  # ink - noise below 0 wraps to near white
    clipped = add_noise(pixels, sigma, np.random.default_rng(3), wrap=False)
    assert clipped[200:].min() > 200 and clipped[:200].max() < 60
    quiet = add_noise(pixels, np.zeros(400), np.random.default_rng(3), wrap=True)
    np.testing.assert_array_equal(quiet, pixels)


def test_deterministic_by_seed(splits: dict, fresh_cache: Path) -> None:
    again = load_phonenums("valid", n_pages=N_PAGES, n_ood_pages=N_OOD)
    np.testing.assert_array_equal(again.x, splits["valid"].x)
    np.testing.assert_array_equal(again.content, splits["valid"].content)
    other = load_phonenums("valid", n_pages=N_PAGES, seed=1)
    assert not np.array_equal(other.content, again.content)
    assert not np.array_equal(other.meta["page"], again.meta["page"])
    clean = load_phonenums("valid", n_pages=N_PAGES, wrap_noise=False)
    np.testing.assert_array_equal(clean.content, again.content)  # the same draws ...
    speckled = (again.x * 255 < 100).all(axis=2) & (clean.x * 255 > 200).all(axis=2)
    assert speckled.sum() > 0  # ... but no wrapped dark specks on the paper
    wide = load_phonenums("valid", n_pages=20, n_fragments=20)
    assert wide.x.shape == (2, 20, 3, 48, 32)
    assert (np.stack([np.bincount(r, minlength=10) for r in wide.content]) == 2).all()


def test_registry_serves_phonenums(splits: dict) -> None:
    assert "phonenums" in datasets_of("fragments") and data_modality("phonenums") == "fragments"
    data = load_data("phonenums", "test", n_pages=N_PAGES, n_ood_pages=N_OOD)
    np.testing.assert_array_equal(data.x, splits["test"].x)
    with pytest.raises(UnweaveError, match=r"data.options.n_page'.*Did you mean.*n_pages"):
        load_data("phonenums", "train", n_page=10)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"split": "dev"}, "Unknown split 'dev'; expected one of: train, valid, test, ood"),
        ({"n_pages": 5}, "n_pages is 5; expected at least 10"),
        ({"n_pages": 2.5}, "n_pages is 2.5; expected an integer"),
        ({"n_fragments": 15}, "n_fragments is 15; expected a positive multiple of 10"),
        ({"n_fragments": 0}, "n_fragments is 0; expected a positive multiple of 10"),
        ({"n_ood_pages": 0}, "n_ood_pages is 0; expected a positive integer"),
        ({"seed": "a"}, "seed is 'a'; expected an integer"),
        ({"wrap_noise": "yes"}, "wrap_noise is 'yes'; expected true or false"),
        ({"font": "/nowhere/font.ttf"}, "Font /nowhere/font.ttf: no such file"),
    ],
)
def test_bad_options_are_one_clear_sentence(options: dict, message: str) -> None:
    split = options.pop("split", "train")
    with pytest.raises(UnweaveError, match=message) as error:
        load_phonenums(split, **options)
    assert str(error.value).count(". ") == 0 and str(error.value).endswith(".")


def test_a_file_that_is_no_font_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.ttf"
    junk.write_bytes(b"not a font")
    with pytest.raises(UnweaveError, match="junk.ttf: Pillow cannot read it"):
        load_phonenums("train", font=junk)
