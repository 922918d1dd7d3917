"""Speech corpora as 20-frame segments: FSDD (also joined into digit strings), TIMIT, and
synthetic speakers rendered by espeak-ng.

Every loader returns a :class:`~unweave.data.timeseries.SeriesData` whose rows are segments
``(N, segment, F)`` of one utterance's features, all observed:

- ``static["speaker"]``: the speaker index (into ``meta["value_names"]["speaker"]``), plus
  the labels of each segment: FSDD's ``digit`` (one word per utterance), the synthetic
  set's and FSDD strings' ``digit`` (the word under the segment's centre: their utterances
  are digit strings), TIMIT's ``gender`` and ``dialect``;
- ``groups``: ``utterance`` ``(N,)`` int64 index of the source utterance, 0..U-1 within the
  split, ``speaker_name`` and ``path`` (the file, or the synthetic or joined utterance's id);
- ``meta``: ``mean``/``std`` ``(F,)`` of the per-bin z-score fitted on the training split and
  applied to both (0 and 1 with ``normalise=False``: raw features), ``features``
  (``"stft"`` or ``"fbank"``), ``rate``, ``value_names``, ``condition`` (the test split's
  :class:`~unweave.data.conditions.TestCondition` by name, ``"clean"`` for the training
  split), ``segment``, ``shift``,
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
from typing import Any

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
from unweave.data.conditions import TestCondition
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


def _check_count(name: str, value: object, most: int | None = None) -> None:
    """One sentence unless ``value`` is an integer from 1 to ``most`` (no bound if None)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UnweaveError(f"{name} is {value!r}; expected a positive integer.")
    if most is not None and value > most:
        raise UnweaveError(f"{name} is {value}; expected a positive integer of at most {most}.")


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
    words: np.ndarray | Callable[[], np.ndarray] | None = None  # or () -> them, after wave()


def words_at(words: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """The word label at each sample of ``centre`` ``(n,)``: ``(n,)`` int64.

    ``words`` ``(W, 3)``: rows ``(label, first sample, end sample)``. A sample in a word
    gets that word; one in a pause gets the nearest word.
    """
    start, end = words[:, 1][None], words[:, 2][None]
    distance = np.maximum(start - centre[:, None], 0) + np.maximum(centre[:, None] - end, 0)
    return words[np.argmin(distance, axis=1), 0].astype(np.int64)


def _build(
    out: Path,
    splits: dict[str, list[_Utterance]],
    how: Segmenting,
    title: str,
    condition: TestCondition,
) -> None:
    """Featurise, segment and (optionally) normalise every split into ``out``, streaming
    through disk; the test split's waves under ``condition`` (the training split clean).

    Writes ``<split>_x.npy`` (segments), ``<split>_labels.npz`` and ``meta.json``; memory
    use stays at one utterance plus one block, whatever the corpus size.
    """
    width = len(feature_names(how.features))
    counts, meta = {}, {"skipped": {}}
    for split, utterances in splits.items():
        rows, kept, skipped, segment_words = [], [], [], []
        with open(out / f"{split}.raw", "wb") as raw:
            for n, utt in enumerate(tqdm(utterances, desc=f"{title} {split}", unit="file")):
                wave = utt.wave()
                cut = how.cut(condition.apply(wave, n) if split == "test" else wave, utt.source)
                if cut is None:
                    skipped.append(utt.source)
                    continue
                raw.write(cut.astype(np.float32).tobytes())
                rows.append(np.full(len(cut), len(kept), dtype=np.int64))
                if utt.words is not None:
                    words = utt.words() if callable(utt.words) else utt.words
                    segment_words.append(words_at(words, how.centres(len(cut))))
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
    condition: TestCondition,
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
            "condition": condition.name() if split == "test" else "clean",
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
    condition: TestCondition,
    **options,
) -> Path:
    """The cache entry of a corpus read from ``files`` under ``root``, built on first use;
    ``options``: whatever else decides the utterances (part of the cache key)."""
    params = {
        "version": CACHE_VERSION,
        "root": str(root.resolve()),
        **_fingerprint(files),
        **_cache_params(how),
        **condition.cache_key(),
        **options,
    }
    kind = "speech-" + label.lower().replace(" ", "-")
    return cached_build(kind, params, lambda out: _build(out, splits, how, label, condition))


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
FSDD_TEST_TAKES = 5  # takes 0-4 of every speaker and digit are the test split (FSDD's own)


@dataclass(frozen=True)
class FsddTake:
    """One FSDD recording ``<digit>_<speaker>_<take>.wav``."""

    path: Path
    digit: int
    speaker: str
    take: int

    @property
    def split(self) -> str:
        return "test" if self.take < FSDD_TEST_TAKES else "train"


def _fsdd_takes(root: str | Path) -> tuple[Path, list[FsddTake]]:
    """The recordings folder under ``root`` (or ``root`` itself) and its takes, by file name."""
    root = Path(root)
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    if not folder.is_dir():
        raise UnweaveError(f"{folder}: no such folder; expected the FSDD recordings folder.")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".wav")
    if not files:
        raise UnweaveError(
            f"{folder}: no .wav files; expected FSDD's <digit>_<speaker>_<take>.wav recordings."
        )
    takes = []
    for path in files:
        match = FSDD_NAME.match(path.stem)
        if match is None:
            raise UnweaveError(
                f"{path}: the file name is not <digit>_<speaker>_<take>.wav as in FSDD."
            )
        takes.append(FsddTake(path, int(match[1]), match[2], int(match[3])))
    return folder, takes


def load_fsdd(
    root: str | Path,
    split: str = "train",
    features: str = "stft",
    segment: int = 20,
    shift: int = 10,
    chunk_samples: int | None = None,
    normalise: bool = True,
    words_per_utterance: int | None = None,
    seed: int = 0,
    test_snr_db: float | None = None,
    test_channel_seed: int | None = None,
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
    features: ``chunk_samples=3200, shift=20, normalise=False``). ``words_per_utterance``
    None: every take is an utterance; a number: the takes joined into strings of that many,
    grouped by ``seed`` (:func:`load_fsdd_strings`). ``test_snr_db`` and
    ``test_channel_seed``: the test split under noise and channel mismatch
    (:class:`~unweave.data.conditions.TestCondition`; the training split stays clean).
    """
    _check_split(split)
    how = Segmenting(features, segment, shift, chunk_samples, normalise)
    condition = TestCondition(test_snr_db, test_channel_seed)
    folder, takes = _fsdd_takes(root)
    files = [t.path for t in takes]
    speakers = sorted({t.speaker for t in takes})
    if words_per_utterance is not None:
        splits, meta = _string_utterances(folder, takes, split, words_per_utterance, seed)
        key = {k: meta[k] for k in ("words_per_utterance", "seed", "pause_seconds")}
        cache = _build_from_files("FSDD strings", folder, files, splits, how, condition, **key)
    else:
        splits, meta = {"train": [], "test": []}, {}
        for t in takes:
            splits[t.split].append(
                _Utterance(
                    source=str(t.path),
                    speaker=t.speaker,
                    static={"speaker": speakers.index(t.speaker), "digit": t.digit},
                    wave=_file_reader(t.path),
                )
            )
        cache = _build_from_files("FSDD", folder, files, splits, how, condition)
    return _load(
        cache,
        split,
        "fsdd" if words_per_utterance is None else "fsdd-strings",
        how,
        {"speaker": speakers, "digit": list(DIGITS)},
        condition,
        targets=("digit",),
        source=str(folder),
        **meta,
    )


# --------------------------------------------------------------------------- FSDD strings

#: Silence between the takes of an ``fsdd-strings`` utterance. FSDD's takes are trimmed to
#: near-minimal silence at both ends, so joined back to back their words would run into
#: each other; 100 ms (10 FBank frames, half a segment) marks the word boundary as a short
#: pause in read speech does, while most segments still hold speech.
FSDD_STRING_PAUSE_SECONDS = 0.1


@dataclass
class TakeStrings:
    """One split's takes grouped into strings: ``strings`` (each ``words_per_utterance``
    takes of one speaker saying different digits, in spoken order), ``leftover`` (takes of
    kept speakers that no string could use) and ``skipped`` (speaker -> the sorted digits
    they have in the split, fewer than ``words_per_utterance``)."""

    strings: list[list[FsddTake]]
    leftover: list[FsddTake]
    skipped: dict[str, list[int]]


def group_takes(
    takes: list[FsddTake], words_per_utterance: int, seed: int, split: str
) -> TakeStrings:
    """The takes of split ``split`` among ``takes`` grouped into strings, fixed by ``seed``.

    Speaker by speaker (sorted names; each with its own generator, seeded by ``seed``, the
    split and the speaker's name, so one speaker's strings do not depend on the others'):
    every digit's takes are shuffled, then, while ``words_per_utterance`` digits still have
    takes, a string takes one of each of the digits with the most takes left (ties in
    random order) and says them in random order. Fullest digits first makes as many
    strings as the counts allow, each take used once; the takes that remain (fewer than
    ``words_per_utterance`` different digits) are left over.
    """
    _check_count("words_per_utterance", words_per_utterance, most=len(DIGITS))
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UnweaveError(f"seed is {seed!r}; expected a non-negative integer.")
    result = TakeStrings([], [], {})
    for speaker in sorted({t.speaker for t in takes if t.split == split}):
        own = [t for t in takes if t.split == split and t.speaker == speaker]
        own.sort(key=lambda t: (t.digit, t.take, t.path.name))
        digits = sorted({t.digit for t in own})
        if len(digits) < words_per_utterance:
            result.skipped[speaker] = digits
            continue
        rng = np.random.default_rng([seed, int(split == "test"), *speaker.encode()])
        pools = {}
        for d in digits:
            said = [t for t in own if t.digit == d]
            pools[d] = [said[i] for i in rng.permutation(len(said))]
        while sum(1 for pool in pools.values() if pool) >= words_per_utterance:
            ties = [digits[i] for i in rng.permutation(len(digits))]
            chosen = sorted(ties, key=lambda d: -len(pools[d]))[:words_per_utterance]
            result.strings.append([pools[chosen[i]].pop() for i in rng.permutation(len(chosen))])
        result.leftover += [t for d in digits for t in pools[d]]
    return result


@dataclass
class _TakeString:
    """A string's wave: its takes read at 16 kHz and joined by the pause; its words
    ``(W, 3)`` rows ``(digit, first sample, end sample)`` as :func:`words_at` takes them."""

    takes: list[FsddTake]
    lengths: list[int] | None = None

    def wave(self) -> np.ndarray:
        waves = [read_wav(t.path, target_rate=RATE)[0] for t in self.takes]
        self.lengths = [len(w) for w in waves]
        return join_words(waves, round(FSDD_STRING_PAUSE_SECONDS * RATE))[0]

    def words(self) -> np.ndarray:
        if self.lengths is None:
            self.wave()
        spans = word_spans(self.lengths, round(FSDD_STRING_PAUSE_SECONDS * RATE))
        return np.column_stack([[t.digit for t in self.takes], spans]).astype(np.int64)


def _string_utterances(
    folder: Path, takes: list[FsddTake], split: str, words_per_utterance: int, seed: int
) -> tuple[dict[str, list[_Utterance]], dict]:
    """The utterances of both splits' strings (:func:`group_takes`) and the meta of ``split``
    (its leftover takes and skipped speakers, each of the latter logged); one sentence when a
    split has no string."""
    found = {}
    for part in ("train", "test"):
        found[part] = group_takes(takes, words_per_utterance, seed, part)
        if found[part].strings:
            continue
        which = "0-4" if part == "test" else f"{FSDD_TEST_TAKES} and up"
        if not found[part].skipped:
            raise UnweaveError(
                f"{folder}: no {part} takes (takes {which}); expected some for each split of "
                "fsdd-strings."
            )
        most = max(found[part].skipped.items(), key=lambda item: len(item[1]))
        raise UnweaveError(
            f"{folder}: no speaker has {part} takes (takes {which}) of {words_per_utterance} "
            f"different digits (the most: {most[0]}, with {len(most[1])}); expected at least "
            "one such speaker for fsdd-strings."
        )
    for speaker, digits in found[split].skipped.items():
        logger.warning(
            "fsdd-strings %s: speaker %s has takes of only %d different digit(s) (%s); "
            "expected %d (words_per_utterance), so the speaker is left out.",
            split,
            speaker,
            len(digits),
            ", ".join(map(str, digits)),
            words_per_utterance,
        )
    speakers = sorted({t.speaker for t in takes})
    splits = {
        part: [
            _Utterance(
                source="+".join(t.path.stem for t in string),
                speaker=string[0].speaker,
                static={"speaker": speakers.index(string[0].speaker)},
                wave=reader.wave,
                words=reader.words,
            )
            for string in strings.strings
            for reader in [_TakeString(string)]
        ]
        for part, strings in found.items()
    }
    meta = {
        "words_per_utterance": words_per_utterance,
        "seed": seed,
        "pause_seconds": FSDD_STRING_PAUSE_SECONDS,
        "leftover": [t.path.name for t in found[split].leftover],
        "n_leftover": len(found[split].leftover),
        "skipped_speakers": found[split].skipped,
    }
    return splits, meta


def load_fsdd_strings(
    root: str | Path,
    split: str = "train",
    words_per_utterance: int = 4,
    seed: int = 0,
    **options: Any,
) -> SeriesData:
    """FSDD takes joined into digit strings, so that only the speaker is constant over an
    utterance (in FSDD itself the digit is constant too, which defeats FHVAE's split).

    Each utterance is ``words_per_utterance`` takes of one speaker saying different digits,
    joined by :data:`FSDD_STRING_PAUSE_SECONDS` of silence; the takes are split as in
    :func:`load_fsdd` (0-4 test) and grouped by :func:`group_takes` (``seed``; each take at
    most once per split, the few left over listed in ``meta["leftover"]``). A speaker whose
    takes in a split cover fewer different digits is left out of it with a warning (listed
    in ``meta["skipped_speakers"]``); a split with no speaker left is one sentence. Static:
    ``speaker`` (sorted names of all speakers, as in ``fsdd``) and, per segment, ``digit``
    (the take under the segment's centre sample, one in a pause the nearer take; also in
    ``targets``). ``groups["path"]`` names the string's takes, ``<stem>+<stem>+...``.
    ``options``: the features and segments of :func:`load_fsdd`, with its defaults.
    """
    _check_count("words_per_utterance", words_per_utterance, most=len(DIGITS))
    return load_fsdd(root, split, words_per_utterance=words_per_utterance, seed=seed, **options)


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
    test_snr_db: float | None = None,
    test_channel_seed: int | None = None,
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
    features: ``chunk_samples=3200, shift=20, normalise=False``). ``test_snr_db``,
    ``test_channel_seed``: as in :func:`load_fsdd`.
    """
    _check_split(split)
    how = Segmenting(features, segment, shift, chunk_samples, normalise)
    condition = TestCondition(test_snr_db, test_channel_seed)
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
    cache = _build_from_files("TIMIT", root, files, splits, how, condition)
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
        condition,
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


def word_spans(lengths: list[int], pause: int, edges: bool = False) -> np.ndarray:
    """First and end sample ``(W, 2)`` int64 of words of ``lengths`` samples joined by
    ``pause`` samples of silence (also one before the first with ``edges``)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    before = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    starts = before + pause * (np.arange(len(lengths)) + int(edges))
    return np.column_stack([starts, starts + lengths])


def join_words(
    words: list[np.ndarray], pause: int, edges: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``words`` (float32 ``(samples,)`` each) joined by ``pause`` samples of silence, also
    before the first and after the last with ``edges``: the wave ``(samples,)`` and
    :func:`word_spans` ``(W, 2)``."""
    gap = np.zeros(pause, dtype=np.float32)
    parts = [part for word in words for part in (gap, word)][1:]
    if edges:
        parts = [gap, *parts, gap]
    wave = np.concatenate(parts).astype(np.float32)
    return wave, word_spans([len(w) for w in words], pause, edges)


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
    _check_count("utterances_per_speaker", utterances_per_speaker)
    _check_count("words_per_utterance", words_per_utterance)
    voices = synthetic_voices(seed, first_speaker, n_speakers)
    engine = _Espeak()
    pause = round(PAUSE_SECONDS * RATE)
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
                spoken = []
                for d in words:
                    samples = engine.say(DIGITS[d], voice, pitch, rate).astype(np.float32) / 32768
                    word = _trim(resample_poly(samples, RATE // divisor, engine.rate // divisor))
                    spoken.append(word)
                wave, spans = join_words(spoken, pause, edges=True)
                waves.append(wave)
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
    test_snr_db: float | None = None,
    test_channel_seed: int | None = None,
) -> SeriesData:
    """Synthetic multi-speaker spoken digit strings (:func:`make_synthetic_speech`), no files.

    Train speakers are the seed's voices ``0..n-1`` and test speakers ``n..2n-1``: disjoint,
    as speaker verification needs. Static: ``speaker`` (index within the split) and, per
    segment, ``digit`` (10, the word under the segment's centre; also in ``targets``).
    Segments, options and test conditions as in :func:`load_fsdd`.
    """
    _check_split(split)
    how = Segmenting(features, segment, shift, chunk_samples, normalise)
    condition = TestCondition(test_snr_db, test_channel_seed)

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
        _build(out, splits, how, "Synthetic speech", condition)

    params = {
        "version": CACHE_VERSION,
        "espeakng_loader": importlib.metadata.version("espeakng-loader"),
        "n_speakers": n_speakers,
        "utterances_per_speaker": utterances_per_speaker,
        "words_per_utterance": words_per_utterance,
        "seed": seed,
        **_cache_params(how),
        **condition.cache_key(),
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
        condition,
        targets=("digit",),
        seed=seed,
    )
