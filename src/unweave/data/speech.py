"""Speech corpora as 20-frame segments: FSDD, TIMIT, and synthetic speakers rendered by espeak-ng.

Every loader returns a :class:`~unweave.data.timeseries.SeriesData` whose rows are segments
``(N, segment, F)`` of one utterance's features, all observed:

- ``static["speaker"]``: the speaker index (into ``meta["value_names"]["speaker"]``), plus
  the labels of each segment: FSDD's ``digit`` (one word per utterance), the synthetic set's
  ``digit`` (the word under the segment's centre: its utterances are digit strings),
  TIMIT's ``gender`` and ``dialect``;
- ``groups``: ``utterance`` ``(N,)`` int64 index of the source utterance, 0..U-1 within the
  split, ``speaker_name`` and ``path`` (the file, or the synthetic utterance's id);
- ``meta``: ``mean``/``std`` ``(F,)`` of the per-bin z-score fitted on the training split and
  applied to both (0 and 1 with ``normalise=False``: raw features), ``features``
  (``"stft"`` or ``"fbank"``), ``rate``, ``value_names``, ``segment``, ``shift``,
  ``chunk_samples``, ``normalise``, ``n_utterances`` and ``n_skipped`` (utterances shorter
  than one segment, skipped with a logged warning; their names are in ``meta["skipped"]``).

Audio is brought to 16 kHz so DBSE's STFT settings (400/320/165, 201 bins) and FHVAE's
Kaldi FBank (80 mel bins, 25/10 ms) apply unchanged. Rows are cut one of two ways
(:class:`Segmenting`): by default features are computed over the whole utterance and cut
into ``segment``-frame segments every ``shift`` frames (FHVAE's segments; a remainder is
dropped); with ``chunk_samples`` the *wave* is cut into non-overlapping chunks, the last
zero-padded and kept, and each chunk featurised alone (DBSE's 3200-sample, 200 ms chunks of
20 STFT frames, ``audio/train_and_eval_timit.py:52-69``). Both splits are built together
(the normalisation needs the training split) and cached (see :mod:`unweave.data.cache`);
``x`` stays memmapped. :class:`UtteranceDataset` serves all rows of an utterance at once.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import json
import logging
import math
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.signal import resample_poly
from tqdm.auto import tqdm

from unweave.data.audio import (
    KALDI_LOW_FREQ,
    FeatureNorm,
    log_mel,
    mel_scale,
    read_wav,
    segments,
    stft_magnitude,
    wave_chunks,
)
from unweave.data.cache import cached_build
from unweave.data.timeseries import SeriesData
from unweave.errors import UnweaveError

logger = logging.getLogger(__name__)

RATE = 16000
STFT = {"n_fft": 400, "win_length": 320, "hop_length": 165}  # DBSE's TIMIT features
FBANK = {"n_mels": 80, "win_ms": 25, "hop_ms": 10}  # FHVAE's Kaldi FBank
SETTINGS = {"stft": STFT, "fbank": FBANK}
FEATURE_KINDS = tuple(SETTINGS)
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
CACHE_VERSION = 2
HOP_SAMPLES = {"stft": STFT["hop_length"], "fbank": RATE * FBANK["hop_ms"] // 1000}

# The TIMIT core test set: per dialect region two male and one female speaker (24 in all).
TIMIT_CORE_TEST = {
    "dr1": ("mdab0", "mwbt0", "felc0"),
    "dr2": ("mtas1", "mwew0", "fpas0"),
    "dr3": ("mjmp0", "mlnt0", "fpkt0"),
    "dr4": ("mlll0", "mtls0", "fjlm0"),
    "dr5": ("mbpm0", "mklt0", "fnlp0"),
    "dr6": ("mcmj0", "mjdh0", "fmgd0"),
    "dr7": ("mgrt0", "mnjm0", "fdhc0"),
    "dr8": ("mjln0", "mpam0", "fmld0"),
}
TIMIT_CORE_TEST_SPEAKERS = tuple(s for trio in TIMIT_CORE_TEST.values() for s in trio)

# Synthetic speakers: one cell of this grid each (8 accents x 12 voices x 6 pitches x 5 rates).
ESPEAK_LANGUAGES = (
    "en",
    "en-us",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-029",
    "en-us-nyc",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
)
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")
ESPEAK_PITCHES = (25, 35, 45, 55, 65, 75)  # espeakPITCH, 0-100 (default 50)
ESPEAK_RATES = (130, 150, 170, 190, 210)  # espeakRATE, words per minute (default 175)


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise UnweaveError(f"Unknown split '{split}'; expected one of: train, test.")


def features_of(wave: np.ndarray, kind: str) -> np.ndarray:
    """Features ``(frames, F)`` of a 16 kHz wave: ``"stft"`` (201 bins) or ``"fbank"`` (80)."""
    if kind == "stft":
        if len(wave) <= STFT["n_fft"] // 2:
            return np.zeros((0, STFT["n_fft"] // 2 + 1), dtype=np.float32)
        return stft_magnitude(wave, **STFT)
    return log_mel(wave, RATE, **FBANK)


def feature_names(kind: str) -> list[str]:
    """Names of the bins: ``stft_<Hz>`` (bin frequency) or ``mel_<Hz>`` (filter centre)."""
    if kind == "stft":
        n_fft = STFT["n_fft"]
        return [f"stft_{k * RATE / n_fft:.0f}Hz" for k in range(n_fft // 2 + 1)]
    edges = np.linspace(mel_scale(KALDI_LOW_FREQ), mel_scale(RATE / 2), FBANK["n_mels"] + 2)[1:-1]
    return [f"mel_{700 * np.expm1(m / 1127):.0f}Hz" for m in edges]


@dataclass(frozen=True)
class Segmenting:
    """How a loader turns an utterance into rows ``(n, segment, F)`` (its options).

    ``chunk_samples`` None: ``features`` over the whole utterance, cut into ``segment``
    frames every ``shift`` frames, a remainder dropped. ``chunk_samples`` given: the wave
    cut into chunks of that many samples (the last zero-padded and kept), each featurised
    alone; a chunk must give ``segment`` frames and chunks do not overlap (``shift`` =
    ``segment``). ``normalise``: per-bin z-score fitted on the training split, or raw.
    """

    features: str
    segment: int
    shift: int
    chunk_samples: int | None
    normalise: bool

    def __post_init__(self) -> None:
        if self.features not in FEATURE_KINDS:
            raise UnweaveError(
                f"Unknown speech features '{self.features}'; expected one of: "
                f"{', '.join(FEATURE_KINDS)}."
            )
        if self.segment < 1 or self.shift < 1:
            raise UnweaveError(
                f"Segment length {self.segment} and shift {self.shift}; expected positive "
                "frame counts."
            )
        if self.chunk_samples is None:
            return
        frames = len(features_of(np.zeros(max(self.chunk_samples, 1)), self.features))
        if self.chunk_samples < 1 or frames != self.segment or self.shift != self.segment:
            raise UnweaveError(
                f"chunk_samples {self.chunk_samples} gives {frames} {self.features} frames "
                f"per chunk; expected segment = shift = {frames} (got segment {self.segment}, "
                f"shift {self.shift})."
            )

    def cut(self, wave: np.ndarray, name: str) -> np.ndarray | None:
        """The rows ``(n, segment, F)`` of a 16 kHz wave, None if shorter than one segment."""
        if self.chunk_samples is not None:
            chunks = wave_chunks(wave, self.chunk_samples)
            return np.stack([features_of(chunk, self.features) for chunk in chunks])
        feats = features_of(wave, self.features)
        if len(feats) < self.segment:
            return None
        return segments(feats, self.segment, self.shift, name=name)

    def centres(self, n_rows: int) -> np.ndarray:
        """The sample under the centre of each of an utterance's first ``n_rows`` rows."""
        if self.chunk_samples is not None:
            return (np.arange(n_rows) + 0.5) * self.chunk_samples
        return (np.arange(n_rows) * self.shift + self.segment / 2) * HOP_SAMPLES[self.features]


@dataclass
class _Utterance:
    """One utterance before featurisation: its id, speaker name, static labels, wave reader,
    and optionally its digit words ``(W, 3)`` int64 rows ``(digit, first sample, end sample)``
    at 16 kHz, which label each segment ``static["digit"]`` by the word under its centre."""

    source: str
    speaker: str
    static: dict[str, int]
    wave: Callable[[], np.ndarray]  # () -> float32 (samples,) at 16 kHz
    words: np.ndarray | None = None


def words_at(words: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """The word label at each sample of ``centre`` ``(n,)``: ``(n,)`` int64.

    ``words`` ``(W, 3)``: rows ``(label, first sample, end sample)``. A sample in a word
    gets that word; one in a pause gets the nearest word.
    """
    start, end = words[:, 1][None], words[:, 2][None]
    distance = np.maximum(start - centre[:, None], 0) + np.maximum(centre[:, None] - end, 0)
    return words[np.argmin(distance, axis=1), 0].astype(np.int64)


def _build(out: Path, splits: dict[str, list[_Utterance]], how: Segmenting, title: str) -> None:
    """Featurise, segment and (optionally) normalise every split into ``out``, streaming
    through disk.

    Writes ``<split>_x.npy`` (segments), ``<split>_labels.npz`` and ``meta.json``; memory
    use stays at one utterance plus one block, whatever the corpus size.
    """
    width = len(feature_names(how.features))
    counts, meta = {}, {"skipped": {}}
    for split, utterances in splits.items():
        rows, kept, skipped, segment_words = [], [], [], []
        with open(out / f"{split}.raw", "wb") as raw:
            for utt in tqdm(utterances, desc=f"{title} {split}", unit="file"):
                cut = how.cut(utt.wave(), utt.source)
                if cut is None:
                    skipped.append(utt.source)
                    continue
                raw.write(cut.astype(np.float32).tobytes())
                rows.append(np.full(len(cut), len(kept), dtype=np.int64))
                if utt.words is not None:
                    segment_words.append(words_at(utt.words, how.centres(len(cut))))
                kept.append(utt)
        if not kept:
            raise UnweaveError(
                f"{title} {split}: all {len(utterances)} utterances are shorter than "
                f"{how.segment} frames; expected at least one segment."
            )
        utterance = np.concatenate(rows)
        counts[split] = len(utterance)
        word = {"static/digit": np.concatenate(segment_words)} if segment_words else {}
        np.savez(
            out / f"{split}_labels.npz",
            utterance=utterance,
            source=np.array([u.source for u in kept]),
            speaker_name=np.array([u.speaker for u in kept]),
            **{
                f"static/{k}": np.array([u.static[k] for u in kept], dtype=np.int64)[utterance]
                for k in kept[0].static
            },
            **word,
        )
        meta["skipped"][split] = skipped

    def raw(split: str) -> np.memmap:
        shape = (counts[split], how.segment, width)
        return np.memmap(out / f"{split}.raw", dtype=np.float32, mode="r", shape=shape)

    block = 4096
    norm = FeatureNorm(np.zeros(width, np.float32), np.ones(width, np.float32))
    if how.normalise:
        train = raw("train")
        norm = FeatureNorm.fit(train[i : i + block] for i in range(0, len(train), block))
        del train
    for split in splits:
        source = raw(split)
        x = np.lib.format.open_memmap(out / f"{split}_x.npy", "w+", np.float32, source.shape)
        for i in range(0, len(source), block):
            x[i : i + block] = norm.apply(source[i : i + block])
        x.flush()
        del x, source
        (out / f"{split}.raw").unlink()
    meta.update(mean=norm.mean.tolist(), std=norm.std.tolist())
    (out / "meta.json").write_text(json.dumps(meta))


def _load(
    folder: Path,
    split: str,
    name: str,
    how: Segmenting,
    value_names: dict[str, list[str]],
    targets: tuple[str, ...] = (),
    **meta,
) -> SeriesData:
    """The ``split`` of a cache entry written by :func:`_build` as ``SeriesData``."""
    info = json.loads((folder / "meta.json").read_text())
    skipped = info["skipped"][split]
    if skipped:
        names = ", ".join(Path(str(entry)).name for entry in skipped[:3])
        logger.warning(
            "%s %s: skipped %d utterance(s) shorter than one segment (%d frames), e.g. %s "
            "(all in meta['skipped']).",
            name,
            split,
            len(skipped),
            how.segment,
            names,
        )
    x = np.load(folder / f"{split}_x.npy", mmap_mode="r")
    with np.load(folder / f"{split}_labels.npz") as labels:
        utterance = labels["utterance"]
        source, speaker_name = labels["source"], labels["speaker_name"]
        static = {k.split("/", 1)[1]: labels[k] for k in labels.files if k.startswith("static/")}
    return SeriesData(
        x=x,
        mask=np.ones(x.shape, dtype=bool),
        feature_names=feature_names(how.features),
        name=name,
        split=split,
        static=static,
        targets={t: static[t] for t in targets},
        groups={
            "utterance": utterance,
            "speaker_name": speaker_name[utterance],
            "path": source[utterance],
        },
        meta={
            "mean": np.array(info["mean"], dtype=np.float32),
            "std": np.array(info["std"], dtype=np.float32),
            **asdict(how),
            "rate": RATE,
            "settings": dict(SETTINGS[how.features]),
            "value_names": value_names,
            "n_utterances": len(source),
            "n_skipped": len(skipped),
            "skipped": skipped,
            **meta,
        },
    )


class UtteranceDataset(torch.utils.data.Dataset):
    """Serves every row of one utterance: ``{"x": float32 (n_rows, T, F)}``, in time order.

    Utterances are ``groups["utterance"]``; rows are read from ``data.x`` (a memmap stays
    one) when served. :meth:`collate` stacks the rows of several utterances.
    """

    def __init__(self, data: SeriesData) -> None:
        utterance = data.groups.get("utterance")
        if utterance is None:
            raise UnweaveError(
                f"{data.name}/{data.split} has no groups['utterance']; expected speech rows "
                "labelled with their utterance."
            )
        self.x = data.x
        self.order = np.argsort(np.asarray(utterance), kind="stable")
        bounds = np.flatnonzero(np.diff(np.asarray(utterance)[self.order])) + 1
        self.bounds = np.concatenate([[0], bounds, [len(self.order)]])

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rows = self.order[self.bounds[index] : self.bounds[index + 1]]
        return {"x": torch.from_numpy(np.asarray(self.x[rows], dtype=np.float32))}

    @staticmethod
    def collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Utterances -> one batch ``{"x": (total rows, T, F)}``, utterance after utterance."""
        return {"x": torch.cat([item["x"] for item in items])}


def _build_from_files(
    label: str,
    root: Path,
    files: list[Path],
    splits: dict[str, list[_Utterance]],
    how: Segmenting,
) -> Path:
    """The cache entry of a corpus read from ``files`` under ``root``, built on first use."""
    params = {
        "version": CACHE_VERSION,
        "root": str(root.resolve()),
        **_fingerprint(files),
        **_cache_params(how),
    }
    return cached_build(
        f"speech-{label.lower()}", params, lambda out: _build(out, splits, how, label)
    )


def _cache_params(how: Segmenting) -> dict:
    """The part of a cache key that :class:`Segmenting` fixes."""
    return {**asdict(how), "settings": SETTINGS[how.features]}


def _fingerprint(files: list[Path]) -> dict:
    """Count, total size and newest mtime of ``files``: part of a cache key."""
    stats = [p.stat() for p in files]
    return {
        "count": len(files),
        "size": sum(s.st_size for s in stats),
        "mtime": max(s.st_mtime_ns for s in stats),
    }


def _file_reader(path: Path, expected_rate: int | None = None) -> Callable[[], np.ndarray]:
    """A reader of ``path`` at 16 kHz (``expected_rate`` given: the file must already be at it)."""
    if expected_rate is None:
        return lambda: read_wav(path, target_rate=RATE)[0]
    return lambda: read_wav(path, expected_rate=expected_rate)[0]


# --------------------------------------------------------------------------- FSDD

FSDD_NAME = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)$")


def load_fsdd(
    root: str | Path,
    split: str = "train",
    features: str = "stft",
    segment: int = 20,
    shift: int = 10,
    chunk_samples: int | None = None,
    normalise: bool = True,
) -> SeriesData:
    """The Free Spoken Digit Dataset: 6 speakers x 10 digits x 50 takes of 8 kHz ``.wav``.

    ``root`` is the ``recordings`` folder of ``<digit>_<speaker>_<take>.wav`` files (or its
    parent). Takes 0-4 are the test split (the data set's own convention), the rest train.
    Waves are resampled to 16 kHz, so the STFT bins above 4 kHz hold only what the
    resampling filter lets through. The utterances are short (median ~0.42 s, 41 STFT
    frames), hence the default ``shift`` 10 (half-overlapping segments, three from a median
    utterance); the ~1% shorter than one segment are skipped and counted. Static: ``speaker``
    (6, sorted names) and ``digit`` (10), the latter also in ``targets``.
    ``chunk_samples`` and ``normalise``: see :class:`Segmenting` (DBSE's reference
    features: ``chunk_samples=3200, shift=20, normalise=False``).
    """
    _check_split(split)
    how = Segmenting(features, segment, shift, chunk_samples, normalise)
    root = Path(root)
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    if not folder.is_dir():
        raise UnweaveError(f"{folder}: no such folder; expected the FSDD recordings folder.")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".wav")
    if not files:
        raise UnweaveError(
            f"{folder}: no .wav files; expected FSDD's <digit>_<speaker>_<take>.wav recordings."
        )
    parsed = []
    for path in files:
        match = FSDD_NAME.match(path.stem)
        if match is None:
            raise UnweaveError(
                f"{path}: the file name is not <digit>_<speaker>_<take>.wav as in FSDD."
            )
        parsed.append((path, int(match[1]), match[2], int(match[3])))
    speakers = sorted({p[2] for p in parsed})
    splits: dict[str, list[_Utterance]] = {"train": [], "test": []}
    for path, digit, speaker, take in parsed:
        splits["test" if take < 5 else "train"].append(
            _Utterance(
                source=str(path),
                speaker=speaker,
                static={"speaker": speakers.index(speaker), "digit": digit},
                wave=_file_reader(path),
            )
        )
    cache = _build_from_files("FSDD", folder, files, splits, how)
    return _load(
        cache,
        split,
        "fsdd",
        how,
        {"speaker": speakers, "digit": list(DIGITS)},
        targets=("digit",),
        source=str(folder),
    )


# --------------------------------------------------------------------------- TIMIT


def _children(folder: Path, keep: Callable[[str], bool]) -> list[Path]:
    """Subfolders of ``folder`` whose lower-case name passes ``keep``, sorted by that name."""
    return sorted(
        (p for p in folder.iterdir() if p.is_dir() and keep(p.name.lower())),
        key=lambda p: p.name.lower(),
    )


def _timit_utterances(root: Path, part: str) -> list[tuple[Path, str, str]]:
    """``(wav file, dialect, speaker)`` of ``<root>/<part>/dr*/<speaker>/``, SA sentences dropped.

    Folder names match in any case. When one sentence has several files (``SX1.WAV`` next
    to a converted ``SX1.WAV.wav``), the first in sorted order is read.
    """
    parts = _children(root, lambda name: name == part)
    if not parts:
        raise UnweaveError(f"{root}: no '{part}' folder; expected TIMIT's train/ and test/.")
    found = []
    for region in _children(parts[0], lambda name: re.fullmatch(r"dr\d", name) is not None):
        for speaker in _children(region, lambda name: True):
            seen = set()
            for path in sorted(speaker.iterdir()):
                sentence = path.name.split(".")[0].lower()
                if path.name.lower().endswith(".wav") and not sentence.startswith("sa"):
                    if sentence not in seen:
                        found.append((path, region.name.lower(), speaker.name.lower()))
                    seen.add(sentence)
    if not found:
        raise UnweaveError(
            f"{parts[0]}: no dr*/<speaker>/*.wav files; expected TIMIT's dialect-region folders."
        )
    return found


def load_timit(
    root: str | Path,
    split: str = "train",
    features: str = "stft",
    segment: int = 20,
    shift: int = 20,
    chunk_samples: int | None = None,
    normalise: bool = True,
) -> SeriesData:
    """TIMIT (LDC93S1), read from ``<root>/{train,test}/dr*/<speaker>/*.wav`` (any case).

    SA1/SA2 (read by every speaker) are dropped, as in SpeechBrain's preparation that DBSE
    uses. ``"train"`` is every training speaker (462 in the full corpus); ``"test"`` is the
    24-speaker core test set (:data:`TIMIT_CORE_TEST_SPEAKERS`; 192 utterances), a missing
    one logged and listed in ``meta["missing_core_speakers"]``. Files must be 16 kHz (NIST
    SPHERE or RIFF). Non-overlapping 20-frame segments by default. Static: ``speaker``
    (index within the split), ``gender`` (0 female, 1 male, from the speaker id's first
    letter) and ``dialect`` (0-7 for dr1-dr8).
    ``chunk_samples`` and ``normalise``: see :class:`Segmenting` (DBSE's reference
    features: ``chunk_samples=3200, shift=20, normalise=False``).
    """
    _check_split(split)
    how = Segmenting(features, segment, shift, chunk_samples, normalise)
    root = Path(root)
    if not root.is_dir():
        raise UnweaveError(f"{root}: no such folder; expected the TIMIT root with train/, test/.")
    found = {
        "train": _timit_utterances(root, "train"),
        "test": [u for u in _timit_utterances(root, "test") if u[2] in TIMIT_CORE_TEST_SPEAKERS],
    }
    speakers = {s: sorted({u[2] for u in utts}) for s, utts in found.items()}
    missing = sorted(set(TIMIT_CORE_TEST_SPEAKERS) - set(speakers["test"]))
    if missing and split == "test":
        logger.warning(
            "TIMIT test: %d of the 24 core test speakers are missing (%s).",
            len(missing),
            ", ".join(missing),
        )
    if not speakers["test"]:
        raise UnweaveError(
            f"{root}: no core test speaker under test/; expected some of "
            f"{', '.join(TIMIT_CORE_TEST_SPEAKERS)}."
        )
    splits = {
        part: [
            _Utterance(
                source=str(path),
                speaker=speaker,
                static={
                    "speaker": speakers[part].index(speaker),
                    "gender": int(speaker.startswith("m")),
                    "dialect": int(region[2:]) - 1,
                },
                wave=_file_reader(path, expected_rate=RATE),
            )
            for path, region, speaker in utts
        ]
        for part, utts in found.items()
    }
    files = [u[0] for utts in found.values() for u in utts]
    cache = _build_from_files("TIMIT", root, files, splits, how)
    return _load(
        cache,
        split,
        "timit",
        how,
        {
            "speaker": speakers[split],
            "gender": ["female", "male"],
            "dialect": [f"dr{k}" for k in range(1, 9)],
        },
        missing_core_speakers=missing,
        source=str(root),
    )


# --------------------------------------------------------------------------- synthetic speech


@dataclass(frozen=True)
class Voice:
    """A synthetic speaker: espeak-ng accent, voice variant, base pitch and speaking rate."""

    language: str
    variant: str
    pitch: int
    rate: int

    @property
    def name(self) -> str:
        return f"{self.language}+{self.variant}/pitch{self.pitch}/rate{self.rate}"


def synthetic_voices(seed: int, first: int, count: int) -> list[Voice]:
    """Speakers ``first .. first + count - 1`` of the seed's order of the voice grid.

    The grid (accent x variant x pitch x rate, 2,880 cells) is shuffled by ``seed``; distinct
    positions are distinct cells, so disjoint ranges give disjoint speakers.
    """
    grid = [
        (lang, var, pitch, rate)
        for lang in ESPEAK_LANGUAGES
        for var in ESPEAK_VARIANTS
        for pitch in ESPEAK_PITCHES
        for rate in ESPEAK_RATES
    ]
    if first < 0 or count < 1 or first + count > len(grid):
        raise UnweaveError(
            f"Synthetic speakers {first}..{first + count - 1}; expected a range within "
            f"0..{len(grid) - 1}."
        )
    order = np.random.default_rng(seed).permutation(len(grid))
    return [Voice(*grid[i]) for i in order[first : first + count]]


class _Espeak:
    """A private instance of libespeak-ng (from the ``espeakng-loader`` wheel), in-process.

    libespeak-ng keeps synthesis state in static variables (noise generator, pitch phase)
    that ``espeak_Terminate`` does not reset, so the same call gives slightly different
    samples later in a process. Each instance therefore loads its own copy of the library
    file, which starts from the state of a fresh process. Voices, words and lengths are then
    a function of the seed, but some renders still differ slightly between processes
    (waveform correlation ~0.998); the cache, built once, is what keeps a data set fixed.
    The copy's code stays mapped until the process ends.
    """

    SYNCHRONOUS = 2  # AUDIO_OUTPUT_SYNCHRONOUS
    RATE, PITCH = 1, 3  # espeakRATE, espeakPITCH
    CHARS_UTF8, POS_CHARACTER = 1, 1

    def __init__(self) -> None:
        import espeakng_loader

        with tempfile.TemporaryDirectory() as folder:
            copy = Path(folder) / "libespeak-ng-private.so"
            shutil.copyfile(espeakng_loader.get_library_path(), copy)
            self.lib = ctypes.CDLL(str(copy))
        self.lib.espeak_Initialize.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
        ]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        data = espeakng_loader.get_data_path().encode()
        self.rate = self.lib.espeak_Initialize(self.SYNCHRONOUS, 0, data, 0)
        if self.rate <= 0:
            raise UnweaveError(f"espeak-ng could not start with its data at {data.decode()}.")
        self.chunks: list[np.ndarray] = []
        callback_type = ctypes.CFUNCTYPE(
            ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
        )
        self.callback = callback_type(self._collect)  # kept alive as long as the instance
        self.lib.espeak_SetSynthCallback(self.callback)

    def _collect(self, samples, count: int, events) -> int:
        if samples and count > 0:
            self.chunks.append(np.ctypeslib.as_array(samples, shape=(count,)).copy())
        return 0

    def say(self, text: str, voice: Voice, pitch: int, rate: int) -> np.ndarray:
        """``text`` in ``voice`` at the given pitch and rate: int16 ``(samples,)`` at ``self.rate``."""
        if self.lib.espeak_SetVoiceByName(f"{voice.language}+{voice.variant}".encode()) != 0:
            raise UnweaveError(
                f"espeak-ng has no voice '{voice.language}+{voice.variant}'; "
                "expected one from espeakng-loader's data."
            )
        self.lib.espeak_SetParameter(self.RATE, rate, 0)
        self.lib.espeak_SetParameter(self.PITCH, pitch, 0)
        self.chunks = []
        encoded = text.encode()
        status = self.lib.espeak_Synth(
            encoded, len(encoded) + 1, 0, self.POS_CHARACTER, 0, self.CHARS_UTF8, None, None
        )
        self.lib.espeak_Synchronize()
        if status != 0 or not self.chunks:
            raise UnweaveError(f"espeak-ng failed to say '{text}' (status {status}).")
        return np.concatenate(self.chunks)

    def close(self) -> None:
        self.lib.espeak_Terminate()


@dataclass
class SyntheticSpeech:
    """Rendered utterances: ``waves`` (U float32 arrays at ``rate``), ``speaker`` ``(U,)``,
    ``digits`` ``(U, W)`` (indices into ``DIGITS``, in spoken order) and ``bounds``
    ``(U, W, 2)`` (first and end sample of each word)."""

    waves: list[np.ndarray]
    rate: int
    speaker: np.ndarray
    digits: np.ndarray
    bounds: np.ndarray
    voices: list[Voice]


PAUSE_SECONDS = 0.08  # silence between the words of a digit string, and before and after it
SILENCE_SHARE = 0.02  # samples below this share of the word's peak are trimmed as silence


def _trim(wave: np.ndarray) -> np.ndarray:
    """``wave`` without its leading and trailing silence (espeak-ng pads each call)."""
    loud = np.flatnonzero(np.abs(wave) > SILENCE_SHARE * np.abs(wave).max())
    return wave[loud[0] : loud[-1] + 1] if len(loud) else wave


def make_synthetic_speech(
    n_speakers: int,
    utterances_per_speaker: int,
    seed: int = 0,
    first_speaker: int = 0,
    words_per_utterance: int = 4,
) -> SyntheticSpeech:
    """Spoken digit strings by synthetic speakers, rendered in-process by espeak-ng at 16 kHz.

    Speakers are :func:`synthetic_voices` ``(seed, first_speaker, n_speakers)``. Each
    utterance is ``words_per_utterance`` digit words (a speaker's digits run through seeded
    permutations of 0-9, so each digit is said equally often), rendered one word at a time
    in one pitch and rate (within 3 and 8 words per minute of the speaker's own), trimmed of
    silence and joined by pauses of ``PAUSE_SECONDS``: several words per utterance, so that
    only the speaker stays constant over it, as in read sentences. Voices, words and
    lengths follow the arguments (and espeakng-loader's version); samples may differ
    slightly between processes (see :class:`_Espeak`).
    """
    for name, value in (
        ("utterances_per_speaker", utterances_per_speaker),
        ("words_per_utterance", words_per_utterance),
    ):
        if not isinstance(value, int) or value < 1:
            raise UnweaveError(f"{name} is {value!r}; expected a positive integer.")
    voices = synthetic_voices(seed, first_speaker, n_speakers)
    engine = _Espeak()
    pause = np.zeros(round(PAUSE_SECONDS * RATE), dtype=np.float32)
    waves, speaker, digits, bounds = [], [], [], []
    divisor = math.gcd(engine.rate, RATE)
    n_words = utterances_per_speaker * words_per_utterance
    try:
        for k, voice in enumerate(voices):
            rng = np.random.default_rng([seed, first_speaker + k])
            cycles = -(-n_words // len(DIGITS))
            said = np.concatenate([rng.permutation(len(DIGITS)) for _ in range(cycles)])
            for words in said[:n_words].reshape(utterances_per_speaker, words_per_utterance):
                pitch = int(np.clip(voice.pitch + rng.integers(-3, 4), 0, 100))
                rate = int(voice.rate + rng.integers(-8, 9))
                parts, spans, at = [pause], [], len(pause)
                for d in words:
                    samples = engine.say(DIGITS[d], voice, pitch, rate).astype(np.float32) / 32768
                    word = _trim(resample_poly(samples, RATE // divisor, engine.rate // divisor))
                    parts += [word.astype(np.float32), pause]
                    spans.append((at, at + len(word)))
                    at += len(word) + len(pause)
                waves.append(np.concatenate(parts))
                speaker.append(k)
                digits.append(words)
                bounds.append(spans)
    finally:
        engine.close()
    return SyntheticSpeech(
        waves=waves,
        rate=RATE,
        speaker=np.array(speaker, dtype=np.int64),
        digits=np.array(digits, dtype=np.int64),
        bounds=np.array(bounds, dtype=np.int64),
        voices=voices,
    )


def load_synthetic_speech(
    split: str = "train",
    n_speakers: int = 12,
    utterances_per_speaker: int = 30,
    seed: int = 0,
    features: str = "stft",
    segment: int = 20,
    shift: int = 10,
    words_per_utterance: int = 4,
    chunk_samples: int | None = None,
    normalise: bool = True,
) -> SeriesData:
    """Synthetic multi-speaker spoken digit strings (:func:`make_synthetic_speech`), no files.

    Train speakers are the seed's voices ``0..n-1`` and test speakers ``n..2n-1``: disjoint,
    as speaker verification needs. Static: ``speaker`` (index within the split) and, per
    segment, ``digit`` (10, the word under the segment's centre; also in ``targets``).
    Segments and options as in :func:`load_fsdd`.
    """
    _check_split(split)
    how = Segmenting(features, segment, shift, chunk_samples, normalise)

    def build(out: Path) -> None:
        splits = {}
        for k, part in enumerate(("train", "test")):
            speech = make_synthetic_speech(
                n_speakers, utterances_per_speaker, seed, k * n_speakers, words_per_utterance
            )
            splits[part] = [
                _Utterance(
                    source=f"{part}/{s:03d}-{speech.voices[s].name}/{i:04d}-"
                    + "-".join(DIGITS[d] for d in digits),
                    speaker=speech.voices[s].name,
                    static={"speaker": int(s)},
                    wave=lambda w=wave: w,
                    words=np.column_stack([digits, bounds]),
                )
                for i, (wave, s, digits, bounds) in enumerate(
                    zip(speech.waves, speech.speaker, speech.digits, speech.bounds, strict=True)
                )
            ]
        _build(out, splits, how, "Synthetic speech")

    params = {
        "version": CACHE_VERSION,
        "espeakng_loader": importlib.metadata.version("espeakng-loader"),
        "n_speakers": n_speakers,
        "utterances_per_speaker": utterances_per_speaker,
        "words_per_utterance": words_per_utterance,
        "seed": seed,
        **_cache_params(how),
    }
    cache = cached_build("speech-synthetic", params, build)
    offset = 0 if split == "train" else n_speakers
    voices = synthetic_voices(seed, offset, n_speakers)
    return _load(
        cache,
        split,
        "synthetic-speech",
        how,
        {"speaker": [v.name for v in voices], "digit": list(DIGITS)},
        targets=("digit",),
        seed=seed,
    )
