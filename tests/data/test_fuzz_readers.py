"""Property-based fuzzing of every reader a user can point at their own files.

Each test starts from a valid file, damages it (cells with odd values, repeated or missing
lines, other encodings, cut or inserted bytes, wrong dtypes and shapes), writes it to a fresh
folder and calls the reader. The reader must either return valid data or raise
:class:`~unweave.errors.UnweaveError` with one line naming the file; nothing else (a
RuntimeWarning counts as a failure too: it means a bad value went through). After every
example the cache may hold complete entries only (each with its COMPLETE marker).

The number of examples per reader is in ``EXAMPLES`` (times ``UNWEAVE_FUZZ_SCALE``); run
with ``--hypothesis-show-statistics`` to see how many returned data and how many were refused.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import reader_files
import soundfile as sf
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from unweave.data.audio import read_wav
from unweave.data.base import SequenceData
from unweave.data.cache import COMPLETE_MARKER
from unweave.data.dsprites import load_dsprites_npz
from unweave.data.frames import load_frame_folder
from unweave.data.mnist import load_mnist, read_idx
from unweave.data.notes import NoteSynth
from unweave.data.speech import load_fsdd
from unweave.data.sprites import SHEET_FOLDERS, load_sprites
from unweave.data.timeseries import (
    SeriesData,
    load_air_quality,
    load_etth1,
    load_physionet,
    load_series_csv,
    split_series_csv,
)
from unweave.errors import UnweaveError

#: Examples per reader: together about 20 s on a busy 2-core machine.
EXAMPLES = {
    "ett": 60,
    "air-quality": 40,
    "physionet": 40,
    "series-csv": 150,
    "wav": 200,
    "fsdd": 20,
    "legacy-npy": 80,
    "mnist-idx": 100,
    "dsprites-npz": 50,
    "frames": 30,
    "soundfont": 50,
    "sprites-sheets": 15,
}


#: ``UNWEAVE_FUZZ_SCALE=20`` runs twenty times as many examples (a longer hunt for bugs).
SCALE = float(os.environ.get("UNWEAVE_FUZZ_SCALE", "1"))


def fuzz(reader: str) -> Callable:
    """Hypothesis settings for ``reader``: its example count, no deadline, no database."""
    return settings(
        max_examples=max(1, round(EXAMPLES[reader] * SCALE)),
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private UNWEAVE_CACHE for the whole test (all its examples)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("UNWEAVE_CACHE", str(folder))
    return folder


def assert_only_complete_entries(cache: Path) -> None:
    """Every ``<kind>/<entry>`` of the cache, hidden ones included, is a complete entry."""
    if not cache.exists():
        return
    for kind in cache.iterdir():
        for entry in kind.iterdir():
            assert (entry / COMPLETE_MARKER).is_file(), f"incomplete cache entry {entry}"


def outcome(call: Callable[[], object], names: tuple[str, ...], cache: Path) -> object | None:
    """The reader's result, or None when it raised UnweaveError with one line naming one of
    ``names``; any other exception (or RuntimeWarning) propagates and fails the test."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            warnings.simplefilter("ignore", UserWarning)
            result = call()
    except UnweaveError as error:
        message = str(error)
        assert "\n" not in message and len(message) < 800, message
        assert any(name in message for name in names), message
        event("refused with UnweaveError")
        result = None
    else:
        event("returned data")
    assert_only_complete_entries(cache)
    return result


@contextmanager
def written(name: str, data: bytes) -> Iterator[Path]:
    """``data`` as the file ``name`` in a fresh temporary folder (removed afterwards)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        yield path


def check_series(data: SeriesData) -> None:
    """What every series reader promises: finite float32 x, 0 where unobserved, some rows."""
    assert isinstance(data, SeriesData) and len(data) > 0
    assert data.x.dtype == np.float32 and np.isfinite(data.x).all()
    assert data.mask.dtype == bool and data.mask.shape == data.x.shape
    assert (np.asarray(data.x)[~data.mask] == 0).all()


# --------------------------------------------------------------------------- damaged text

ODD_CELLS = [
    "",
    " ",
    "NA",
    "NaN",
    "-nan",
    "inf",
    "-Infinity",
    "1e400",
    "-1e39",
    "3.4e38",
    "1e-320",
    "0x10",
    "1_000",
    "١٢",
    "²",
    "\x00",
    '"',
    '"open',
    "a,b",
    "\n",
    "\r",
    "é",
    "\ufeff",
    "9" * 400,
    "x" * 140_000,
]
ENCODINGS = ["utf-8"] * 4 + ["utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"]
TEXT_OPS = st.one_of(
    st.tuples(
        st.just("cell"),
        st.integers(0, 10**6),
        st.integers(0, 30),
        st.sampled_from(ODD_CELLS) | st.text(max_size=6),
    ),
    st.tuples(st.sampled_from(["dup", "drop", "swap", "blank"]), st.integers(0, 10**6)),
    st.tuples(st.just("header"), st.integers(0, 30), st.sampled_from(ODD_CELLS)),
)
BYTE_OPS = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 255)),
)


def _apply_text(lines: list[str], op: tuple) -> None:
    """Apply one text operation to ``lines`` (header first) in place."""
    if len(lines) < 2:
        return
    kind = op[0]
    if kind == "header":
        cells = lines[0].rstrip("\r\n").split(",")
        cells[op[1] % len(cells)] = op[2]
        lines[0] = ",".join(cells) + "\n"
        return
    at = 1 + op[1] % (len(lines) - 1)
    if kind == "cell":
        cells = lines[at].rstrip("\r\n").split(",")
        cells[op[2] % len(cells)] = op[3]
        lines[at] = ",".join(cells) + "\n"
    elif kind == "dup":
        lines.insert(at, lines[at])
    elif kind == "drop":
        del lines[at]
    elif kind == "swap":
        lines[at], lines[-1] = lines[-1], lines[at]
    else:
        lines[at] = "\n"


def _apply_bytes(data: bytes, op: tuple) -> bytes:
    """Apply one byte operation to ``data``."""
    at = int(op[1] * len(data))
    if op[0] == "truncate":
        return data[:at]
    if op[0] == "insert":
        return data[:at] + op[2] + data[at:]
    if not data:
        return data
    at = min(at, len(data) - 1)
    return data[:at] + bytes([op[2]]) + data[at + 1 :]


@st.composite
def damaged(draw: st.DrawFn, name: str) -> bytes:
    """The good text ``TEXTS[name]`` with up to 3 text operations, an encoding, and up to 2
    byte operations."""
    lines = TEXTS[name].splitlines(keepends=True)
    for op in draw(st.lists(TEXT_OPS, max_size=3)):
        _apply_text(lines, op)
    data = "".join(lines).encode(draw(st.sampled_from(ENCODINGS)), errors="replace")
    for op in draw(st.lists(BYTE_OPS, max_size=2)):
        data = _apply_bytes(data, op)
    return data


PHYSIONET_IDS = [132539 + i for i in range(5)]
PHYSIONET_RECORDS = {rid: reader_files.physionet_record(rid) for rid in PHYSIONET_IDS}
#: The valid files that ``damaged`` starts from, by name (so examples print short).
TEXTS = {
    "ett": reader_files.ett_text(),
    "air": reader_files.air_text(),
    "series": reader_files.series_text(),
    "outcomes": reader_files.outcomes_text(PHYSIONET_IDS),
    **{str(rid): text for rid, text in PHYSIONET_RECORDS.items()},
}


@fuzz("ett")
@given(data=damaged("ett"), split=st.sampled_from(["train", "valid", "test"]))
def test_fuzz_ett_csv(cache: Path, data: bytes, split: str) -> None:
    with written("ETTh1.csv", data) as path:
        result = outcome(lambda: load_etth1(path, split), (path.name,), cache)
        if result is not None:
            check_series(result)
            assert result.x.shape[1:] == (672, 6) and result.mask.all()
            assert np.isfinite(result.targets["OT"]).all()


@fuzz("air-quality")
@given(data=damaged("air"), split=st.sampled_from(["train", "test"]))
def test_fuzz_prsa_csv_folder(cache: Path, data: bytes, split: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / reader_files.AIR_NAME).write_bytes(data)
        result = outcome(lambda: load_air_quality(Path(folder), split), (folder,), cache)
        if result is not None:
            check_series(result)
            assert result.x.shape[1:] == (672, 10)


@st.composite
def physionet_damage(draw: st.DrawFn) -> tuple[str, bytes]:
    """(file name, damaged bytes): one of the records or the outcomes file."""
    target = draw(st.sampled_from([*PHYSIONET_IDS, "outcomes"]))
    if target == "outcomes":
        return "Outcomes-a.txt", draw(damaged("outcomes"))
    return f"set-a/{target}.txt", draw(damaged(str(target)))


@fuzz("physionet")
@given(damage=physionet_damage(), split=st.sampled_from(["train", "test"]))
def test_fuzz_physionet_records(cache: Path, damage: tuple[str, bytes], split: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "set-a").mkdir()
        for rid, text in PHYSIONET_RECORDS.items():
            (root / "set-a" / f"{rid}.txt").write_text(text)
        (root / "Outcomes-a.txt").write_text(TEXTS["outcomes"])
        (root / damage[0]).write_bytes(damage[1])
        result = outcome(lambda: load_physionet(root, split), (folder,), cache)
        if result is not None:
            check_series(result)
            assert set(np.unique(result.targets["in_hospital_death"])) <= {0, 1}
            assert set(np.unique(result.static["icu_type"])) <= {-1, 0, 1, 2, 3}


@fuzz("series-csv")
@given(
    data=damaged("series"),
    columns=st.sampled_from([["a", "b"], ["b"], ["a", "c"], ["a", "a"], []]),
    time=st.sampled_from(["t", "a"]),
    window=st.sampled_from([None, None, 1, 2, 5, 0, 10**9]),
    split=st.sampled_from([None, "train", "test"]),
)
def test_fuzz_series_csv(
    cache: Path, data: bytes, columns: list[str], time: str, window: int | None, split: str | None
) -> None:
    with written("mine.csv", data) as path:
        if split is None:
            call = lambda: load_series_csv(path, time, columns, "site", window)  # noqa: E731
        else:
            call = lambda: split_series_csv(  # noqa: E731
                path, split, time, columns, "site", window, test_fraction=0.3
            )
        names = (path.name, "load_series_csv")
        result = outcome(call, names, cache)
        if result is not None:
            check_series(result)
            assert result.n_features == len(columns)


# --------------------------------------------------------------------------- audio

WAV_SUBTYPES = ["PCM_16", "PCM_U8", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW"]
WAV_HEADER_FIELDS = {"channels": (22, 2), "rate": (24, 4), "bits": (34, 2), "data size": (40, 4)}


@st.composite
def wav_files(draw: st.DrawFn) -> bytes:
    """A WAV of random subtype, channels, rate and length, maybe with odd samples, then maybe
    damaged: a header field set to an odd value, bytes cut, flipped or inserted."""
    subtype = draw(st.sampled_from(WAV_SUBTYPES))
    channels = draw(st.integers(1, 3))
    rate = draw(st.sampled_from([8000, 11025, 16000, 22050, 44100]))
    frames = draw(st.integers(0, 3000))
    wave = 0.5 * np.sin(np.arange(frames * channels, dtype=np.float64) / 7).reshape(
        frames, channels
    )
    if frames and subtype in ("FLOAT", "DOUBLE"):
        for value in draw(st.lists(st.sampled_from([np.nan, np.inf, -np.inf, 1e30, 3.0]))):
            wave[draw(st.integers(0, frames - 1)), 0] = value
    buffer = io.BytesIO()
    sf.write(buffer, wave, rate, format="WAV", subtype=subtype)
    data = buffer.getvalue()
    if draw(st.booleans()):
        offset, size = WAV_HEADER_FIELDS[draw(st.sampled_from(list(WAV_HEADER_FIELDS)))]
        value = draw(st.sampled_from([0, 1, 7, 8000, 16000, 96000, 2**16 - 1, 2**31 - 1]))
        value %= 2 ** (8 * size)
        data = data[:offset] + value.to_bytes(size, "little") + data[offset + size :]
    for op in draw(st.lists(BYTE_OPS, max_size=2)):
        data = _apply_bytes(data, op)
    return data


@fuzz("wav")
@given(data=wav_files(), how=st.sampled_from(["as is", "to 16 kHz", "must be 16 kHz"]))
def test_fuzz_wav_reader(cache: Path, data: bytes, how: str) -> None:
    with written("take.wav", data) as path:
        rates = {"as is": {}, "to 16 kHz": {"target_rate": 16000}}
        options = rates.get(how, {"expected_rate": 16000})
        result = outcome(lambda: read_wav(path, **options), (path.name,), cache)
        if result is not None:
            wave, rate = result
            assert wave.dtype == np.float32 and wave.ndim == 1 and len(wave) > 0
            assert np.isfinite(wave).all() and rate > 0
            if how != "as is":
                assert rate == 16000


@fuzz("fsdd")
@given(data=wav_files())
def test_fuzz_fsdd_folder(cache: Path, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        tone = (0.3 * np.sin(np.arange(8000) / 3)).astype(np.float32)
        sf.write(root / "1_ann_0.wav", tone, 8000, subtype="PCM_16")  # test split
        sf.write(root / "2_ann_7.wav", tone, 8000, subtype="PCM_16")
        (root / "3_ann_9.wav").write_bytes(data)
        result = outcome(lambda: load_fsdd(root, "train"), (folder,), cache)
        if result is not None:
            check_series(result)


# --------------------------------------------------------------------------- legacy Sprites

LEGACY_SHAPES = {"X": (8, 64, 64, 3), "A": (8, 4, 6), "D": (8, 9)}
ODD_DTYPES = ["float16", "float64", "int8", "uint8", "int64", "bool", "<U1", "complex64", "V4"]


@st.composite
def legacy_array(draw: st.DrawFn, key: str, n: int) -> bytes | None:
    """The bytes of ``sprites_<key>_train.npy`` (None: the file is absent), valid or damaged."""
    shape = (n, *LEGACY_SHAPES[key])
    if key == "X":
        good = np.full(shape, 0.5, np.float32)
    else:
        good = np.zeros(shape, np.float32)
        good[..., 1] = 1
    form = draw(st.sampled_from(["valid", "valid", "dtype", "shape", "values", "bytes", "cut"]))
    array = good
    if form == "dtype":
        array = good.astype(draw(st.sampled_from(ODD_DTYPES)))
    elif form == "shape":
        array = np.zeros(draw(st.sampled_from([(n,), (n, 8), (n + 1, *shape[1:]), (0,)])), "f4")
    elif form == "values":
        array = good.copy().reshape(-1)
        if array.size:
            value = draw(st.sampled_from([np.nan, np.inf, -1.0, 2.0, 255.0, 1e30, 0.0, 1.0]))
            spots = draw(st.lists(st.integers(0, array.size - 1), min_size=1, max_size=4))
            array[spots] = value
            if draw(st.booleans()):
                array[:] = value
        array = array.reshape(shape)
    elif form == "bytes":
        return draw(st.none() | st.binary(max_size=300))
    buffer = io.BytesIO()
    np.save(buffer, array)
    data = buffer.getvalue()
    if form == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    return data


@st.composite
def legacy_folders(draw: st.DrawFn) -> dict[str, bytes | None]:
    n = draw(st.integers(0, 3))
    return {key: draw(legacy_array(key, n)) for key in ("X", "A", "D")}


@fuzz("legacy-npy")
@given(files=legacy_folders())
def test_fuzz_legacy_sprites_npy(cache: Path, files: dict[str, bytes | None]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for key, data in files.items():
            if data is not None:
                (root / f"sprites_{key}_train.npy").write_bytes(data)
        result = outcome(lambda: load_sprites(root, "train"), (folder, "sprites_"), cache)
        if result is not None:
            assert isinstance(result, SequenceData) and len(result) > 0
            assert result.x.dtype == np.uint8 and result.x.shape[1:] == (8, 3, 64, 64)
            assert all(((v >= 0) & (v < 6)).all() for v in result.static.values())
            assert ((result.dynamic["action"] >= 0) & (result.dynamic["action"] < 9)).all()


# --------------------------------------------------------------------------- MNIST IDX


@st.composite
def idx_files(draw: st.DrawFn, labels: bool) -> bytes:
    """An IDX file (maybe gzipped) of MNIST-like shape, with a damaged header or length."""
    n = draw(st.integers(0, 4))
    shape = (n,) if labels else (n, 28, 28)
    code = draw(st.sampled_from([0x08, 0x08, 0x09, 0x0B, 0x0D, 0x0E, 0x00, 0x42]))
    dtype = {0x09: ">i1", 0x0B: ">i2", 0x0D: ">f4", 0x0E: ">f8"}.get(code, ">u1")
    values = draw(st.sampled_from([0, 3, 9, 10, 255, -1]))
    array = np.full(shape, values).astype(dtype)
    dims = list(shape)
    if draw(st.booleans()):
        dims = draw(st.lists(st.integers(0, 2**32 - 1), max_size=4))
    header = bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    data = header + array.tobytes()
    for op in draw(st.lists(BYTE_OPS, max_size=2)):
        data = _apply_bytes(data, op)
    if draw(st.booleans()):
        data = gzip.compress(data)
        if draw(st.booleans()):
            data = data[: draw(st.integers(0, len(data)))]
    return data


@fuzz("mnist-idx")
@given(images=idx_files(labels=False), labels=idx_files(labels=True))
def test_fuzz_mnist_idx(cache: Path, images: bytes, labels: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "t10k-images-idx3-ubyte.gz").write_bytes(images)
        (root / "t10k-labels-idx1-ubyte.gz").write_bytes(labels)
        single = outcome(lambda: read_idx(root / "t10k-labels-idx1-ubyte.gz"), (folder,), cache)
        if single is not None:
            assert isinstance(single, np.ndarray)
        result = outcome(lambda: load_mnist(root), (folder,), cache)
        if result is not None:
            x, y = result
            assert x.dtype == np.uint8 and x.shape[1:] == (28, 28) and len(y) == len(x)
            assert ((y >= 0) & (y <= 9)).all()


# --------------------------------------------------------------------------- dSprites npz


@st.composite
def npz_files(draw: st.DrawFn) -> bytes:
    """Random bytes, a zip with garbage members, or an npz of the dSprites keys with small
    arrays of odd shapes and dtypes."""
    form = draw(st.sampled_from(["bytes", "zip", "npz"]))
    if form == "bytes":
        return draw(st.binary(max_size=200))
    buffer = io.BytesIO()
    keys = draw(
        st.lists(
            st.sampled_from(["imgs", "latents_classes", "latents_values", "other"]), unique=True
        )
    )
    if form == "zip":
        with zipfile.ZipFile(buffer, "w") as archive:
            for key in keys:
                archive.writestr(f"{key}.npy", draw(st.binary(max_size=100)))
        return buffer.getvalue()
    arrays = {
        key: np.zeros(
            draw(st.sampled_from([(3, 64, 64), (3, 6), (0,), (737280, 0)])),
            draw(st.sampled_from(["u1", "i8", "f8", "f4", "<U1", "bool"])),
        )
        for key in keys
    }
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@fuzz("dsprites-npz")
@given(data=npz_files())
def test_fuzz_dsprites_npz(cache: Path, data: bytes) -> None:
    with written("dsprites.npz", data) as path:
        outcome(lambda: load_dsprites_npz(path), (path.name,), cache)


# --------------------------------------------------------------------------- images


IMAGE_KINDS = [
    ("PNG", "RGB"),
    ("PNG", "RGBA"),
    ("PNG", "L"),
    ("PNG", "1"),
    ("PNG", "P"),
    ("PNG", "I;16"),
    ("PNG", "LA"),
    ("JPEG", "RGB"),
    ("JPEG", "CMYK"),
    ("GIF", "P"),
    ("BMP", "RGB"),
]


@st.composite
def image_files(draw: st.DrawFn, largest: int = 40) -> bytes:
    """An image of a random mode, size and format, maybe damaged (cut, flipped, inserted)."""
    fmt, mode = draw(st.sampled_from(IMAGE_KINDS))
    size = (draw(st.integers(1, largest)), draw(st.integers(1, largest)))
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, format=fmt)
    data = buffer.getvalue()
    if draw(st.booleans()):
        data = (
            data[:16]
            + struct.pack(">II", *draw(st.sampled_from([(0, 0), (10**5, 10**5)])))[:8]
            + data[24:]
        )  # PNG width and height in the IHDR chunk
    for op in draw(st.lists(BYTE_OPS, max_size=2)):
        data = _apply_bytes(data, op)
    return data


def _png(size: tuple[int, int] = (12, 12)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@fuzz("frames")
@given(data=image_files(), which=st.integers(0, 7), suffix=st.sampled_from([".png", ".jpg"]))
def test_fuzz_frame_folder(cache: Path, data: bytes, which: int, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        clip = Path(folder) / "walk" / "clip1"
        clip.mkdir(parents=True)
        for k in range(8):
            (clip / f"{k}{suffix}").write_bytes(data if k == which else _png())
        call = lambda: load_frame_folder(Path(folder), "train", size=16, test_fraction=0.0)  # noqa: E731
        result = outcome(call, (folder,), cache)
        if result is not None:
            assert result.x.shape == (1, 8, 3, 16, 16) and result.x.dtype == np.uint8


@fuzz("sprites-sheets")
@given(data=image_files())
def test_fuzz_sprites_sheets(cache: Path, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for layer in SHEET_FOLDERS:
            (root / layer).mkdir()
            for i in range(7):
                (root / layer / f"{i}.png").write_bytes(data)
        outcome(lambda: load_sprites(root, "train"), (folder,), cache)


# --------------------------------------------------------------------------- SoundFont


@st.composite
def soundfont_files(draw: st.DrawFn) -> bytes:
    """Random bytes or a RIFF 'sfbk' file of random chunks, its size field maybe wrong."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=100))
    chunks = b""
    for tag in draw(st.lists(st.sampled_from([b"LIST", b"INFO", b"sdta", b"pdta", b"junk"]))):
        body = draw(st.binary(max_size=60))
        chunks += tag + len(body).to_bytes(4, "little") + body
    body = b"sfbk" + chunks
    size = draw(st.sampled_from([len(body), len(body) + 100, 0, 2**32 - 1]))
    return b"RIFF" + size.to_bytes(4, "little") + body


@fuzz("soundfont")
@given(data=soundfont_files())
def test_fuzz_soundfont(cache: Path, data: bytes) -> None:
    with written("font.sf2", data) as path:
        outcome(lambda: NoteSynth(path), (path.name,), cache)
