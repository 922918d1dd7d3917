"""Instrument notes: 12 pitches played on one General MIDI instrument per sample (V3's InsNotes).

A sample is 12 notes of one instrument, the 12 pitches MIDI 60-71 (C4-B4) in a random
order; each note is one fragment, a log-magnitude spectrogram of 512 bins x 32 frames.
Content = the pitch (12 values), style = the instrument.

The InsNotes recipe (Wu et al., V3) as applied here:

- instruments: GM programs 64, 19, 21, 41, 56, 59, 68, 71, 72, 75, 22, 52 (split ``"ood"``:
  0, 4, 73, 78), rendered in-process at 16 kHz by TinySoundFont from a SoundFont, by
  default ``TimGM6mb.sf2`` shipped inside the ``pretty-midi`` package;
- timing: note k starts at ``k * 1.056`` s and is held 1 s (velocity uniform in 80-120),
  so the 0.056 s gap is where its release rings; the sample's wave is multiplied by a
  random envelope (per note a linear or quarter-sine ramp between gains that walk by at
  most 0.2 within [0.8, 1.2]) and scaled to a peak of 0.9;
- features: ``log(|STFT| + 1e-5)`` with a 1024-point Hann window and hop 512 (so a note
  period is 33 frames), the top (Nyquist) bin dropped -> 512 bins of 15.6 Hz, and the
  first 32 of each note's 33 frames as its fragment;
- normalisation: none by default, as the reference (raw log magnitudes, about -11.5 to
  3); ``zscore=True`` gives ``(x - mean) / std`` with one scalar mean and std of the
  training split's log magnitudes (a scalar keeps the spectral shape: per-bin scaling
  would blow the near-silent top bins up to unit variance). ``meta["mean"]`` and
  ``meta["std"]`` are those applied (0 and 1 without z-scoring).

What differs from the reference: it renders 2-minute MIDI files (120 notes cycling through
one pitch order) with FluidSynth and the FluidR3 SoundFont and cuts 12 consecutive notes,
which is also a rotation of a 12-pitch permutation; here each sample is rendered on its
own (12 notes, no spill-over from the notes before it). Its gain walk may leave [0.8, 1.2]
and its 1-s envelope segments drift against the 1.056-s notes; here they are clipped and
aligned. The STFT pads the ends by reflection (``librosa`` pads with zeros), which only
touches the first frame of a sample. The reference's FrequencyMasking(15) is a training
augmentation, not part of the data (V3's ``frequency_mask`` setting).

``bins`` below 512 averages groups of adjacent linear-magnitude bins before the log (128
bins: 62.5 Hz each), which makes x 4x smaller for CPU presets. The trade: the fundamentals
of neighbouring low pitches (C4 262 Hz, C#4 277 Hz) then share a bin, so pitch is read from
where the higher harmonics fall; the instrument's formants are kept.

All four splits are built together (the z-scoring needs the training split's statistics)
on first use and cached as raw log magnitudes (see :mod:`unweave.data.cache`); ``x`` stays
memmapped unless z-scored (then it is one float32 array in memory).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from unweave.data.audio import stft_magnitude
from unweave.data.cache import cached_build, file_fingerprint
from unweave.data.fragments import FragmentData
from unweave.errors import UnweaveError
from unweave.extras import require

RATE = 16000
N_FFT = 1024
HOP = 512
FRAMES = 32  # frames per fragment
PERIOD = (FRAMES + 1) * HOP  # 16896 samples = 1.056 s from one onset to the next
NOTE_SAMPLES = RATE  # each note is held 1 s
PITCHES = tuple(range(60, 72))
PITCH_NAMES = ("C4", "C#4", "D4", "D#4", "E4", "F4", "F#4", "G4", "G#4", "A4", "A#4", "B4")
INSTRUMENTS = {  # GM program -> General MIDI name
    64: "Soprano Sax",
    19: "Church Organ",
    21: "Accordion",
    41: "Viola",
    56: "Trumpet",
    59: "Muted Trumpet",
    68: "Oboe",
    71: "Clarinet",
    72: "Piccolo",
    75: "Pan Flute",
    22: "Harmonica",
    52: "Choir Aahs",
}
OOD_INSTRUMENTS = {0: "Acoustic Grand Piano", 4: "Electric Piano 1", 73: "Flute", 78: "Whistle"}
SPLITS = ("train", "valid", "test", "ood")
VELOCITY = (80, 120)
GAIN = (0.8, 1.2)
GAIN_STEP = 0.2
PEAK = 0.9
LOG_FLOOR = 1e-5
BINS_CHOICES = (512, 256, 128, 64)
DEFAULT_SOUNDFONT = "TimGM6mb.sf2"  # inside the pretty_midi package
CACHE_VERSION = 2  # 2: raw log magnitudes stored, z-scoring at load


def default_soundfont() -> Path:
    """``TimGM6mb.sf2`` inside the installed ``pretty-midi`` package (not imported)."""
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or spec.origin is None:
        raise UnweaveError(
            "No SoundFont given and pretty-midi is not installed; expected soundfont=PATH "
            "to a .sf2 file or 'pip install pretty-midi' (it ships TimGM6mb.sf2)."
        )
    return Path(spec.origin).parent / DEFAULT_SOUNDFONT


def _check_soundfont(path: Path) -> None:
    """Raise UnweaveError unless ``path`` is a whole RIFF ``sfbk`` (SoundFont 2) file."""
    if not path.is_file():
        raise UnweaveError(f"{path}: file not found; expected a SoundFont (.sf2) file.")
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise UnweaveError(
            f"{path}: not a SoundFont (no RIFF 'sfbk' header); expected a SoundFont 2 file."
        )
    declared = int.from_bytes(head[4:8], "little") + 8
    if declared > size:
        raise UnweaveError(
            f"{path}: {size} bytes but the header declares {declared}; expected a whole "
            "SoundFont file (is it truncated?)."
        )


class NoteSynth:
    """Renders notes of GM programs at 16 kHz from a SoundFont with TinySoundFont."""

    def __init__(self, soundfont: str | Path | None = None) -> None:
        self.path = Path(soundfont) if soundfont is not None else default_soundfont()
        _check_soundfont(self.path)
        self._module = require("notes", "The notes data set")
        self._font = self.path.read_bytes()
        self._synth()  # fails here, not mid-build, on a file TinySoundFont cannot parse

    def _synth(self) -> tuple[object, int]:
        """A fresh TinySoundFont synthesizer at 16 kHz and the id of the loaded font in it."""
        synth = self._module.Synth(samplerate=RATE)
        try:
            return synth, synth.sfload(self._font)
        except RuntimeError:
            raise UnweaveError(
                f"{self.path}: TinySoundFont cannot load it; expected a valid SoundFont file."
            ) from None

    def render(self, program: int, pitches: Sequence[int], velocities: Sequence[int]) -> np.ndarray:
        """Mono float32 wave ``(len(pitches) * PERIOD,)``: note k starts at sample ``k * PERIOD``.

        Each note is held for ``NOTE_SAMPLES`` and then released. Every call starts a fresh
        synthesizer (~13 ms): TinySoundFont keeps voice state across notes that even its reset
        does not clear, so a reused one would render the same call differently each time.
        """
        synth, font = self._synth()
        try:
            synth.program_select(0, font, 0, int(program))
        except RuntimeError:
            raise UnweaveError(
                f"{self.path}: no preset for GM program {program}; expected a General MIDI "
                "SoundFont."
            ) from None
        wave = np.empty((len(pitches), PERIOD), dtype=np.float32)
        for row, pitch, velocity in zip(wave, pitches, velocities, strict=True):
            synth.noteon(0, int(pitch), int(velocity))
            held = np.frombuffer(synth.generate(NOTE_SAMPLES), dtype=np.float32)
            synth.noteoff(0, int(pitch))
            tail = np.frombuffer(synth.generate(PERIOD - NOTE_SAMPLES), dtype=np.float32)
            row[:NOTE_SAMPLES] = held.reshape(-1, 2).mean(axis=1)
            row[NOTE_SAMPLES:] = tail.reshape(-1, 2).mean(axis=1)
        return wave.reshape(-1)


def envelope(rng: np.random.Generator, n_notes: int) -> np.ndarray:
    """A random gain curve ``(n_notes * PERIOD,)`` float32 for ``n_notes`` notes.

    Gains ``g_0 .. g_n`` start uniform in [0.8, 1.2] and walk by U(-0.2, 0.2), clipped to
    that range; note k ramps from ``g_k`` to ``g_{k+1}`` over its 1 s (linear or a quarter
    sine, at random) and holds ``g_{k+1}`` through its gap.
    """
    steps = rng.uniform(-GAIN_STEP, GAIN_STEP, n_notes)
    gains = [rng.uniform(*GAIN)]
    for step in steps:
        gains.append(float(np.clip(gains[-1] + step, *GAIN)))
    start, end = np.array(gains[:-1])[:, None], np.array(gains[1:])[:, None]
    time = np.linspace(0, 1, NOTE_SAMPLES)
    shape = np.where(rng.random((n_notes, 1)) < 0.5, time, np.sin(time * np.pi / 2))
    ramp = start + (end - start) * shape
    hold = np.repeat(end, PERIOD - NOTE_SAMPLES, axis=1)
    return np.concatenate([ramp, hold], axis=1).reshape(-1).astype(np.float32)


def _check_bins(bins: int) -> None:
    if bins not in BINS_CHOICES:
        raise UnweaveError(f"bins {bins}; expected one of: {', '.join(map(str, BINS_CHOICES))}.")


def note_fragments(wave: np.ndarray, n_notes: int, bins: int = 512) -> np.ndarray:
    """Log-magnitude fragments ``(n_notes, bins, FRAMES)`` float32 of a rendered wave.

    ``wave`` holds ``n_notes`` note periods; fragment k is frames ``33k .. 33k + 31`` of
    ``log(|STFT| + 1e-5)`` (Hann 1024, hop 512, top bin dropped, groups of ``512 // bins``
    bins averaged before the log).
    """
    _check_bins(bins)
    if len(wave) != n_notes * PERIOD:
        raise UnweaveError(
            f"note_fragments: a wave of {len(wave)} samples; expected {n_notes} x {PERIOD}."
        )
    magnitude = stft_magnitude(wave, n_fft=N_FFT, win_length=N_FFT, hop_length=HOP)
    frames = magnitude[: n_notes * (FRAMES + 1), : N_FFT // 2]
    pooled = frames.reshape(n_notes, FRAMES + 1, bins, -1).mean(axis=3)[:, :FRAMES]
    return np.log(pooled + LOG_FLOOR).transpose(0, 2, 1).astype(np.float32)


def split_sizes(n_samples_per_instrument: int) -> dict[str, int]:
    """Samples per instrument: ``n`` for train, ``max(1, n // 8)`` for valid and test, and
    ``max(1, n // 4)`` for ood (which has 4 instruments, not 12)."""
    held_out = max(1, n_samples_per_instrument // 8)
    return {
        "train": n_samples_per_instrument,
        "valid": held_out,
        "test": held_out,
        "ood": max(1, n_samples_per_instrument // 4),
    }


def _render_split(
    out: Path, split: str, per_instrument: int, seed: int, bins: int, synth: NoteSynth, bar: tqdm
) -> tuple[float, float, int]:
    """Render one split's raw log magnitudes into ``out``; return their sum, sum of squares
    and count (for the training statistics)."""
    programs = list(OOD_INSTRUMENTS if split == "ood" else INSTRUMENTS)
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    style = rng.permutation(np.repeat(np.arange(len(programs)), per_instrument))
    order = rng.permuted(np.tile(np.arange(len(PITCHES)), (len(style), 1)), axis=1)
    velocity = rng.integers(VELOCITY[0], VELOCITY[1] + 1, order.shape)
    shape = (len(style), len(PITCHES), 1, bins, FRAMES)
    x = np.lib.format.open_memmap(out / f"{split}_x.npy", "w+", np.float32, shape)
    total, squares = 0.0, 0.0
    for i, (instrument, pitch_index, loudness) in enumerate(
        zip(style, order, velocity, strict=True)
    ):
        program = programs[instrument]
        wave = synth.render(program, np.array(PITCHES)[pitch_index], loudness)
        wave *= envelope(rng, len(PITCHES))
        peak = np.abs(wave).max()
        if peak == 0:
            raise UnweaveError(
                f"{synth.path}: GM program {program} renders silence; expected a SoundFont "
                "with a sounding preset for every program."
            )
        fragments = note_fragments(wave * (PEAK / peak), len(PITCHES), bins)
        x[i, :, 0] = fragments
        total += float(fragments.sum(dtype=np.float64))
        squares += float(np.square(fragments, dtype=np.float64).sum())
        bar.update()
    x.flush()
    np.savez(out / f"{split}_labels.npz", content=order, style=style, velocity=velocity)
    return total, squares, x.size


def _build(out: Path, sizes: dict[str, int], seed: int, bins: int, synth: NoteSynth) -> None:
    """Render and write every split: raw ``<split>_x.npy``, labels, and ``meta.json`` with the
    training split's scalar mean and std."""
    counts = {
        split: n * len(OOD_INSTRUMENTS if split == "ood" else INSTRUMENTS)
        for split, n in sizes.items()
    }
    with tqdm(total=sum(counts.values()), desc="InsNotes: rendering", unit="sample") as bar:
        total, squares, size = _render_split(out, "train", sizes["train"], seed, bins, synth, bar)
        for split in SPLITS[1:]:
            _render_split(out, split, sizes[split], seed, bins, synth, bar)
    mean = total / size
    std = math.sqrt(max(squares / size - mean**2, 0.0)) or 1.0
    (out / "meta.json").write_text(json.dumps({"mean": mean, "std": std}))


def load_notes(
    split: str,
    n_samples_per_instrument: int = 40,
    seed: int = 0,
    bins: int = 512,
    soundfont: str | Path | None = None,
    zscore: bool = False,
) -> FragmentData:
    """Split ``split`` of the instrument notes: x ``(N, 12, 1, bins, 32)`` float32 log
    magnitudes, raw (the reference) or z-scored.

    Args:
        split: ``"train"``, ``"valid"``, ``"test"`` or ``"ood"`` (the 4 held-out programs).
        n_samples_per_instrument: training samples per instrument; see :func:`split_sizes`
            for the others (default 40: 480 train samples, 60 valid, 60 test, 40 ood).
        seed: fixes every random draw (pitch orders, velocities, envelopes, sample order).
        bins: frequency bins, 512 (the recipe) or 256 / 128 / 64 (averaged, cheaper).
        soundfont: a ``.sf2`` file; default :func:`default_soundfont`.
        zscore: subtract the training split's mean log magnitude and divide by its std
            (one scalar each); default False, the reference's raw ``log(|STFT| + 1e-5)``.

    Returns:
        ``FragmentData`` with content = pitch index ``(N, 12)`` (MIDI ``60 + index``), style
        = instrument index ``(N,)`` into ``meta["value_names"]["style"]``; ``meta`` also
        holds ``programs`` (GM numbers of those instruments), ``mean`` and ``std`` (the
        normalisation applied: ``x * std + mean`` is the log magnitude; 0 and 1 unless
        ``zscore``), ``train_mean`` and ``train_std`` (the training statistics), ``velocity``
        ``(N, 12)``, ``rate``, ``n_fft``, ``hop``, ``bins`` and ``soundfont``.
    """
    if split not in SPLITS:
        raise UnweaveError(f"Unknown split '{split}'; expected one of: {', '.join(SPLITS)}.")
    _check_bins(bins)
    if n_samples_per_instrument < 1:
        raise UnweaveError(
            f"n_samples_per_instrument {n_samples_per_instrument}; expected a positive count."
        )
    path = Path(soundfont) if soundfont is not None else default_soundfont()
    _check_soundfont(path)
    sizes = split_sizes(n_samples_per_instrument)
    params = {
        "version": CACHE_VERSION,
        "sizes": sizes,
        "seed": seed,
        "bins": bins,
        "soundfont": file_fingerprint(path),
        "tinysoundfont": _version("tinysoundfont"),
    }
    folder = cached_build(
        "notes", params, lambda out: _build(out, sizes, seed, bins, NoteSynth(path))
    )
    stats = json.loads((folder / "meta.json").read_text())
    x = np.load(folder / f"{split}_x.npy", mmap_mode="r")
    mean, std = (stats["mean"], stats["std"]) if zscore else (0.0, 1.0)
    if zscore:
        x = ((x - np.float32(mean)) / np.float32(std)).astype(np.float32)
    with np.load(folder / f"{split}_labels.npz") as labels:
        content, style, velocity = labels["content"], labels["style"], labels["velocity"]
    instruments = OOD_INSTRUMENTS if split == "ood" else INSTRUMENTS
    return FragmentData(
        x=x,
        content=content.astype(np.int64),
        style=style.astype(np.int64),
        name="notes",
        split=split,
        meta={
            "value_names": {"content": list(PITCH_NAMES), "style": list(instruments.values())},
            "programs": list(instruments),
            "mean": mean,
            "std": std,
            "train_mean": stats["mean"],
            "train_std": stats["std"],
            "velocity": velocity,
            "rate": RATE,
            "n_fft": N_FFT,
            "hop": HOP,
            "bins": bins,
            "soundfont": str(path),
            "seed": seed,
        },
    )


def _version(package: str) -> str | None:
    """The installed version of ``package`` (part of a cache key), or None."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
