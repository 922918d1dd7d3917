"""Frame folders ``<label>/<clip>/<frame>.png``: order, labels, split, cache and clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unweave.data import frames as frames_module
from unweave.data.cache import COMPLETE_MARKER
from unweave.data.frames import load_frame_folder, natural_key
from unweave.data.registry import load_data
from unweave.errors import UnweaveError

LABELS = ("happy", "sad")  # written in this order; "happy" sorts first
N_CLIPS = 3
N_FRAMES = 10


def clip_id(label: int, clip: int) -> int:
    """The green value that identifies a clip."""
    return 40 + 100 * label + 20 * clip


def make_tree(root: Path, n_frames: int = N_FRAMES) -> Path:
    """2 labels x 3 clips x ``n_frames`` solid frames named 1.png .. 10.png.

    Red encodes the frame number (25 * k), green the clip; frame sizes vary per clip and one
    frame is a JPEG.
    """
    for li, label in enumerate(LABELS):
        for ci in range(N_CLIPS):
            clip = root / label / f"clip{ci}"
            clip.mkdir(parents=True)
            shape = (20 + 7 * ci + 3 * li, 24 + 5 * ci)  # (width, height), not square
            for k in range(1, n_frames + 1):
                image = Image.new("RGB", shape, (25 * k, clip_id(li, ci), 0))
                if li == 1 and ci == 2 and k == 3:
                    image.save(clip / f"{k}.jpg", quality=95)
                else:
                    image.save(clip / f"{k}.png")
            (clip / "notes.txt").write_text("not a frame")
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "clips")


def test_natural_key() -> None:
    names = ["10.png", "2.png", "1.png", "frame_11.jpg", "frame_9.jpg"]
    assert sorted(names, key=natural_key) == [
        "1.png",
        "2.png",
        "10.png",
        "frame_9.jpg",
        "frame_11.jpg",
    ]


def test_shapes_labels_and_frame_order(tree: Path, fresh_cache: Path) -> None:
    train = load_frame_folder(tree, "train", seq_len=8, size=16)
    test = load_frame_folder(tree, "test", seq_len=8, size=16)
    for data in (train, test):
        assert data.x.dtype == np.uint8
        assert data.x.shape[1:] == (8, 3, 16, 16)
        assert data.static == {}
        assert data.factor_sizes == {"label": 2}
        assert data.value_names == {"label": ["happy", "sad"]}
        assert data.dynamic["label"].dtype == np.int64
        # each frame is one solid colour, resized without changing it (the JPEG within +-4)
        frames = data.x.astype(int)
        spread = frames.max(axis=(3, 4)) - frames.min(axis=(3, 4))
        assert spread.max() <= 4
        red = frames[:, :, 0].mean(axis=(2, 3))  # (N, T)
        # natural order: frames 1..8, so 10.png is not read before 2.png
        np.testing.assert_allclose(red, np.tile(25 * np.arange(1, 9), (len(data), 1)), atol=4)
        green = frames[:, 0, 1].mean(axis=(1, 2)).round().astype(int)
        label_of_green = {clip_id(li, ci): li for li in range(2) for ci in range(N_CLIPS)}
        assert [label_of_green[g] for g in green] == data.dynamic["label"].tolist()
    assert (train.split, test.split) == ("train", "test")
    assert (train.name, test.name) == ("frames", "frames")


def test_split_sizes_and_disjoint(tree: Path, fresh_cache: Path) -> None:
    def clips(data) -> list[int]:
        return data.x[:, 0, 1].astype(int).mean(axis=(1, 2)).round().astype(int).tolist()

    train = load_frame_folder(tree, "train", seq_len=4, size=8)
    test = load_frame_folder(tree, "test", seq_len=4, size=8)
    assert (len(train), len(test)) == (4, 2)  # round(0.2 * 3) = 1 test clip per label
    assert np.bincount(test.dynamic["label"], minlength=2).tolist() == [1, 1]
    assert not set(clips(train)) & set(clips(test))
    assert sorted(clips(train) + clips(test)) == sorted(
        clip_id(li, ci) for li in range(2) for ci in range(N_CLIPS)
    )
    half = load_frame_folder(tree, "test", seq_len=4, size=8, test_fraction=0.5)
    assert len(half) == 4  # round(1.5) = 2 per label
    # another seed picks other test clips (some seed among a few must differ)
    picks = {
        tuple(sorted(clips(load_frame_folder(tree, "test", seq_len=4, size=8, seed=s))))
        for s in range(6)
    }
    assert len(picks) > 1


def test_stride_and_registry(tree: Path, fresh_cache: Path) -> None:
    data = load_data("frames", "train", root=tree, seq_len=5, size=8, stride=2)
    red = data.x[:, :, 0].astype(int).mean(axis=(2, 3))
    np.testing.assert_allclose(red[0], 25 * np.array([1, 3, 5, 7, 9]), atol=4)


def test_cache_is_reused_and_invalidated(
    tree: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_frame_folder(tree, "train", seq_len=4, size=8)
    entries = list((fresh_cache / "frames").iterdir())
    assert len(entries) == 1 and (entries[0] / COMPLETE_MARKER).exists()
    assert not (entries[0] / "decoding.npy").exists()

    def no_decoding(path: Path, size: int) -> np.ndarray:
        raise AssertionError("decoded again although the cache is complete")

    monkeypatch.setattr(frames_module, "_read_frame", no_decoding)
    again = load_frame_folder(tree, "train", seq_len=4, size=8)
    np.testing.assert_array_equal(first.x, again.x)

    monkeypatch.undo()
    monkeypatch.setenv("UNWEAVE_CACHE", str(fresh_cache))
    Image.new("RGB", (9, 9)).save(tree / "sad" / "clip0" / "11.png")  # the files changed
    load_frame_folder(tree, "train", seq_len=4, size=8)
    assert len(list((fresh_cache / "frames").iterdir())) == 2


def test_missing_root(tmp_path: Path, fresh_cache: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(UnweaveError, match=re.escape(str(missing))):
        load_frame_folder(missing, "train")


def test_root_without_label_folders(tmp_path: Path, fresh_cache: Path) -> None:
    root = tmp_path / "flat"
    root.mkdir()
    Image.new("RGB", (8, 8)).save(root / "1.png")
    with pytest.raises(UnweaveError, match=re.escape(str(root)) + ".*no label folders"):
        load_frame_folder(root, "train")


def test_label_without_clip_folders(tmp_path: Path, fresh_cache: Path) -> None:
    label = tmp_path / "root" / "happy"
    label.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(label / "1.png")
    with pytest.raises(UnweaveError, match=re.escape(str(label))):
        load_frame_folder(tmp_path / "root", "train")


def test_short_clip(tmp_path: Path, fresh_cache: Path) -> None:
    root = make_tree(tmp_path / "clips")
    short = root / "sad" / "clip1"
    for k in range(6, N_FRAMES + 1):
        (short / f"{k}.png").unlink()
    with pytest.raises(UnweaveError) as info:
        load_frame_folder(root, "train", seq_len=8)
    message = str(info.value)
    assert str(short) in message and "5 frames" in message and "8 are needed" in message
    with pytest.raises(UnweaveError, match=re.escape(str(short)) + ".*9 are needed"):
        load_frame_folder(root, "train", seq_len=5, stride=2)
    assert len(load_frame_folder(root, "train", seq_len=5, size=8)) == 4  # 5 frames suffice


def test_unreadable_frame_leaves_no_cache(tmp_path: Path, fresh_cache: Path) -> None:
    root = make_tree(tmp_path / "clips")
    broken = root / "happy" / "clip2" / "3.png"
    broken.write_bytes(b"this is not a png")
    with pytest.raises(UnweaveError, match=re.escape(str(broken))):
        load_frame_folder(root, "train", seq_len=8, size=8)
    assert not (fresh_cache / "frames").exists() or not any((fresh_cache / "frames").iterdir())


def test_bad_options(tree: Path, fresh_cache: Path) -> None:
    with pytest.raises(UnweaveError, match="split"):
        load_frame_folder(tree, "valid")
    with pytest.raises(UnweaveError, match="test_fraction"):
        load_frame_folder(tree, "train", test_fraction=1.0)
    with pytest.raises(UnweaveError, match="root"):
        load_data("frames", "train")
