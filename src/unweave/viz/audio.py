"""Listen to a speech model: utterances re-assembled from segments, speaker swaps, waves.

Speech data (:mod:`unweave.data.speech`) holds normalised segments ``(N, segment, F)`` of
whole utterances. This module puts an utterance back together (overlapping frames
averaged), decodes one utterance's segments with another's static code (a speaker swap:
the words of B in the voice of A), and turns features back into sound with Griffin-Lim:

- ``"stft"`` features are linear magnitudes, so the inversion only lacks the phase;
- ``"fbank"`` features are Kaldi log-mel energies: the linear spectrum is *approximated*
  by the pseudo-inverse of the mel matrix (clipped at 0, pre-emphasis undone), which
  cannot restore the detail inside a mel band; the result is intelligible but muffled.

:func:`save_audio_swaps` writes swaps and their sources as WAV files plus a figure of their
spectrograms; every file appears whole (written to a temporary name, then renamed).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from unweave.data.audio import (
    INT16_SCALE,
    KALDI_LOW_FREQ,
    KALDI_PREEMPHASIS,
    griffin_lim,
    kaldi_mel_banks,
    mel_scale,
    write_wav,
)
from unweave.data.timeseries import SeriesData
from unweave.errors import UnweaveError
from unweave.nn.gaussian import Gaussian
from unweave.viz.plots import save_figure

DYNAMIC_RANGE_DB = 80.0  # colour range of the spectrogram figures, below their loudest cell
PEAK = 0.99  # waves louder than this are scaled down to it before writing (no clipping)


# --------------------------------------------------------------------------- data access


def _meta(data: SeriesData, key: str) -> Any:
    """``data.meta[key]``, else UnweaveError naming the speech loaders."""
    if key not in data.meta:
        raise UnweaveError(
            f"{data.name}/{data.split}: meta has no '{key}'; expected speech data from "
            "unweave.data.speech."
        )
    return data.meta[key]


def _utterance_ids(data: SeriesData) -> np.ndarray:
    """``data.groups["utterance"]`` ``(N,)``, else UnweaveError."""
    ids = data.groups.get("utterance")
    if ids is None:
        raise UnweaveError(
            f"{data.name}/{data.split}: no groups['utterance']; expected segments of utterances."
        )
    return np.asarray(ids)


def _utterance_rows(data: SeriesData, utterance: int) -> np.ndarray:
    """The rows (segments, in time order) of ``utterance`` in ``data.groups["utterance"]``."""
    ids = _utterance_ids(data)
    rows = np.flatnonzero(ids == utterance)
    if len(rows) == 0:
        raise UnweaveError(
            f"{data.name}/{data.split}: no utterance {utterance}; expected an id in "
            f"{int(np.min(ids))}..{int(np.max(ids))}."
        )
    return rows


def _overlap_add(segments: np.ndarray, shift: int) -> np.ndarray:
    """Segments ``(n, T, F)`` starting every ``shift`` frames -> frames ``(frames, F)``.

    Frames covered by several segments are averaged; with ``shift > T`` the uncovered
    frames between segments are left out.
    """
    n, length, width = segments.shape
    total = (n - 1) * shift + length
    sums = np.zeros((total, width))
    counts = np.zeros(total)
    for k, segment in enumerate(segments):
        sums[k * shift : k * shift + length] += segment
        counts[k * shift : k * shift + length] += 1
    covered = counts > 0
    return (sums[covered] / counts[covered, None]).astype(np.float32)


def utterance_features(data: SeriesData, utterance: int) -> np.ndarray:
    """The normalised features ``(frames, F)`` of one utterance, re-assembled from its segments."""
    rows = _utterance_rows(data, utterance)
    return _overlap_add(np.asarray(data.x[rows], dtype=np.float32), int(_meta(data, "shift")))


# --------------------------------------------------------------------------- swaps


def _device(model: nn.Module) -> torch.device:
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def _static_code(model: nn.Module, x: torch.Tensor, utterance: int) -> torch.Tensor:
    """The static code ``(S,)`` of one utterance's segments ``x (n, T, F)``.

    FHVAE's closed-form utterance embedding ``mu2*`` when the model has one, else the mean
    of the static posterior means of the segments.
    """
    if hasattr(model, "utterance_embeddings"):
        ids = torch.full((len(x),), utterance, dtype=torch.int64, device=x.device)
        return model.utterance_embeddings(x, ids)[0]
    return _static_posterior(model, x).mean.mean(0)


def _static_posterior(model: nn.Module, x: torch.Tensor) -> Gaussian:
    """The static posterior of segments ``x`` ``(n, T, F)``; one sentence for a model that
    has no static code."""
    static = model.encode(x).static
    if static is None:
        raise UnweaveError(
            f"{type(model).__name__} has one code per segment and no static code; a speaker "
            "swap needs one (train fhvae or dbse)."
        )
    return static


@torch.no_grad()
def swap_utterances(
    model: nn.Module, data: SeriesData, source_static: int, source_dynamic: int, seed: int = 0
) -> np.ndarray:
    """The segments of ``source_dynamic`` decoded with the static code of ``source_static``.

    Each segment keeps its own dynamic code (posterior mean); the decoded segments are
    re-assembled like :func:`utterance_features`: normalised features ``(frames, F)`` as
    long as ``source_dynamic``. For a speech model: the words of one utterance in the voice
    of the other. Encoders that draw noise (DBSE's first dynamic slot) draw it from
    ``seed``; the global random state is left untouched.
    """
    shift = int(_meta(data, "shift"))
    device = _device(model)
    x_static = torch.from_numpy(np.asarray(data.x[_utterance_rows(data, source_static)]))
    x_dynamic = torch.from_numpy(np.asarray(data.x[_utterance_rows(data, source_dynamic)]))
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        static = _static_code(model, x_static.float().to(device), source_static)
        dynamic = model.encode(x_dynamic.float().to(device)).dynamic.mean
        decoded = model.decode(static.expand(len(dynamic), -1), dynamic)
    return _overlap_add(decoded.float().cpu().numpy(), shift)


# --------------------------------------------------------------------------- features -> sound


def _fbank_frames(data: SeriesData) -> tuple[int, int, int]:
    """Window, hop and FFT size in samples of the Kaldi FBank features of ``data``."""
    settings, rate = _meta(data, "settings"), int(_meta(data, "rate"))
    win = int(round(rate * settings["win_ms"] / 1000))
    hop = int(round(rate * settings["hop_ms"] / 1000))
    return win, hop, 1 << (win - 1).bit_length()


def _denormalise(features: np.ndarray, data: SeriesData) -> np.ndarray:
    """Normalised ``features (frames, F)`` -> the feature scale, float64 ``(frames, F)``."""
    mean = np.asarray(_meta(data, "mean"), dtype=np.float64)
    std = np.asarray(_meta(data, "std"), dtype=np.float64)
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] != len(mean) or len(features) < 2:
        raise UnweaveError(
            f"Features have shape {features.shape}; expected (frames, {len(mean)}) with at "
            "least 2 frames."
        )
    return features * std + mean


def _fbank_magnitude(log_energies: np.ndarray, rate: int, win: int, n_fft: int) -> np.ndarray:
    """Kaldi log-mel energies ``(frames, n_mels)`` -> approximate STFT magnitudes
    ``(frames, n_fft // 2 + 1)`` in wave units, for a Hann window of ``win`` samples.

    The power spectrum is the pseudo-inverse of the mel matrix applied to the energies,
    clipped at 0; then the 16-bit scale, the pre-emphasis filter and the Hamming window's
    gain that :func:`~unweave.data.audio.log_mel` applied are undone.
    """
    banks = kaldi_mel_banks(log_energies.shape[1], rate, n_fft)
    power = np.clip(np.exp(log_energies) @ np.linalg.pinv(banks).T, 0.0, None)
    omega = np.pi * np.arange(n_fft // 2 + 1) / (n_fft // 2)
    emphasis = np.sqrt(1 + KALDI_PREEMPHASIS**2 - 2 * KALDI_PREEMPHASIS * np.cos(omega))
    window_gain = (win / 2) / np.hamming(win).sum()  # periodic Hann sum / Hamming sum
    return (np.sqrt(power) / INT16_SCALE / emphasis * window_gain).astype(np.float32)


def to_wave(features: np.ndarray, data: SeriesData, n_iter: int = 60) -> tuple[np.ndarray, int]:
    """Normalised ``features (frames, F)`` of ``data``'s kind -> ``(wave (samples,) float32, rate)``.

    ``"stft"``: the magnitudes (clipped at 0) through Griffin-Lim with the STFT settings of
    ``meta["settings"]``. ``"fbank"``: an *approximate* linear magnitude from the log-mel
    energies (:func:`_fbank_magnitude`), through Griffin-Lim with a window and hop of the
    FBank frames (25 / 10 ms, FFT of 512 at 16 kHz). ``n_iter`` Griffin-Lim iterations.
    """
    values = _denormalise(features, data)
    kind, rate = _meta(data, "features"), int(_meta(data, "rate"))
    if kind == "stft":
        settings = _meta(data, "settings")
        magnitude = np.clip(values, 0.0, None)
        n_fft, win, hop = settings["n_fft"], settings["win_length"], settings["hop_length"]
    elif kind == "fbank":
        win, hop, n_fft = _fbank_frames(data)
        magnitude = _fbank_magnitude(values, rate, win, n_fft)
    else:
        raise UnweaveError(f"Speech features '{kind}'; expected 'stft' or 'fbank'.")
    return griffin_lim(magnitude, n_fft, win, hop, n_iter), rate


# --------------------------------------------------------------------------- spectrograms


def spectrogram_db(features: np.ndarray, data: SeriesData) -> np.ndarray:
    """Normalised ``features (frames, F)`` -> levels in dB ``(frames, F)`` for drawing.

    ``"stft"``: 20 log10 of the magnitude (floored at 1e-5); ``"fbank"``: the log-mel
    energies as power dB (16-bit sample units, as Kaldi's).
    """
    values = _denormalise(features, data)
    if _meta(data, "features") == "stft":
        return 20 * np.log10(np.maximum(values, 1e-5))
    return values * (10 / np.log(10))


def bin_frequencies(data: SeriesData) -> np.ndarray:
    """The frequency in Hz of each feature bin ``(F,)``: STFT bins or mel filter centres."""
    rate, n_bins = int(_meta(data, "rate")), data.n_features
    if _meta(data, "features") == "stft":
        return np.arange(n_bins) * rate / _meta(data, "settings")["n_fft"]
    edges = np.linspace(mel_scale(KALDI_LOW_FREQ), mel_scale(rate / 2), n_bins + 2)[1:-1]
    return 700 * np.expm1(edges / 1127)


def frame_seconds(data: SeriesData) -> float:
    """The hop between feature frames of ``data``, in seconds."""
    if _meta(data, "features") == "stft":
        hop = _meta(data, "settings")["hop_length"]
    else:
        hop = _fbank_frames(data)[1]
    return hop / int(_meta(data, "rate"))


def plot_spectrogram_grid(
    levels: Sequence[Sequence[np.ndarray]],
    titles: Sequence[Sequence[str]],
    path: str | Path,
    bin_hz: np.ndarray,
    seconds_per_frame: float,
    colour_bar: bool = True,
    title: str | None = None,
) -> Path:
    """A grid of spectrograms; ``levels[i][j]`` ``(frames, F)`` in dB, titled ``titles[i][j]``.

    One colour scale for all panels (the loudest cell down :data:`DYNAMIC_RANGE_DB`); the
    frequency axis is labelled in Hz at the bins' frequencies ``bin_hz (F,)`` (mel bins
    are drawn evenly spaced). Written atomically as a PNG; returns its path.
    """
    rows = len(levels)
    cols = max((len(row) for row in levels), default=0)
    shapes_ok = all(
        len(row) == cols
        and len(names) == cols
        and all(np.ndim(level) == 2 and np.shape(level)[1] == len(bin_hz) for level in row)
        for row, names in zip(levels, titles, strict=False)
    )
    if rows == 0 or cols == 0 or len(titles) != rows or not shapes_ok:
        raise UnweaveError(
            f"plot_spectrogram_grid: expected rows of equally many (frames, {len(bin_hz)}) "
            "spectrograms, with one title each."
        )
    top = max(float(np.max(level)) for row in levels for level in row)
    figure = Figure(figsize=(4.2 * cols, 2.3 * rows + 0.6), layout="constrained")
    if title:
        figure.suptitle(title, fontsize=11)
    axes = figure.subplots(rows, cols, squeeze=False)
    ticks = np.unique(np.linspace(0, len(bin_hz) - 1, 5).round().astype(int))
    for i in range(rows):
        for j in range(cols):
            ax, level = axes[i, j], np.asarray(levels[i][j])
            times = np.arange(len(level)) * seconds_per_frame
            mesh = ax.pcolormesh(
                times,
                np.arange(level.shape[1]),
                level.T,
                shading="nearest",
                cmap="magma",
                vmin=top - DYNAMIC_RANGE_DB,
                vmax=top,
                rasterized=True,
            )
            ax.set_title(titles[i][j], fontsize=8)
            ax.set_yticks(ticks, [f"{bin_hz[k]:.0f}" for k in ticks])
            ax.tick_params(labelsize=7)
            if j == 0:
                ax.set_ylabel("frequency (Hz)", fontsize=8)
            if i == rows - 1:
                ax.set_xlabel("time (s)", fontsize=8)
    if colour_bar:
        figure.colorbar(mesh, ax=axes, shrink=0.8, label="level (dB)")
    return save_figure(figure, path)


# --------------------------------------------------------------------------- pairs and files


def _utterance_labels(data: SeriesData) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Sorted utterance ids ``(U,)`` and each static label per utterance ``(U,)``."""
    ids, first = np.unique(_utterance_ids(data), return_index=True)
    return ids, {k: np.asarray(v)[first] for k, v in data.static.items()}


def pick_speaker_pairs(data: SeriesData, n: int = 3, seed: int = 0) -> list[tuple[int, int]]:
    """Up to ``n`` disjoint pairs ``(voice utterance, words utterance)`` of different speakers.

    Utterances are visited in a seeded order, those of speakers not yet in a pair first;
    each is paired with the first unused utterance of another speaker, preferring speakers
    not yet in a pair, then utterances that also differ in every other static label (digit,
    gender, ...). Deterministic given ``seed``.
    """
    try:
        n = operator.index(n)
    except TypeError:
        n = 0
    if n < 1:
        raise UnweaveError(f"The number of pairs is {n!r}; expected an integer >= 1.")
    ids, labels = _utterance_labels(data)
    if "speaker" not in labels:
        raise UnweaveError(
            f"{data.name}/{data.split}: no static 'speaker' label; expected speech data."
        )
    speaker = labels["speaker"]
    free = [int(u) for u in np.random.default_rng(seed).permutation(len(ids))]
    seen: set[int] = set()
    pairs: list[tuple[int, int]] = []
    while len(pairs) < n:
        choice = None
        for a in sorted(free, key=lambda u: speaker[u] in seen):  # stable: keeps the order
            others = [b for b in free if speaker[b] != speaker[a]]
            if others:
                shared = {b: any(v[b] == v[a] for v in labels.values()) for b in others}
                choice = a, min(others, key=lambda b: (speaker[b] in seen, shared[b]))
                break
        if choice is None:
            break
        pairs.append((int(ids[choice[0]]), int(ids[choice[1]])))
        seen.update(int(speaker[u]) for u in choice)
        free = [u for u in free if u not in choice]
    if not pairs:
        raise UnweaveError(
            f"{data.name}/{data.split}: every utterance has the same speaker; expected at "
            "least two speakers for a speaker swap."
        )
    return pairs


def describe_utterance(data: SeriesData, utterance: int) -> tuple[str, str]:
    """``(speaker, content)`` names of an utterance, from ``meta["value_names"]`` when there.

    The content is the spoken digit when ``static`` has one, else the file name of
    ``groups["path"]`` (e.g. TIMIT's ``sx123``), else ``utterance <id>``.
    """
    row = _utterance_rows(data, utterance)[0]
    names = data.meta.get("value_names", {})

    def label(key: str) -> str | None:
        if key not in data.static:
            return None
        value = int(data.static[key][row])
        known = names.get(key, [])
        return str(known[value]) if value < len(known) else f"{key} {value}"

    speaker = label("speaker")
    if speaker is None and "speaker_name" in data.groups:
        speaker = str(data.groups["speaker_name"][row])
    content = label("digit")
    if content is None and "path" in data.groups:
        content = Path(str(data.groups["path"][row])).name.split(".")[0]
    return speaker or "unknown speaker", content or f"utterance {utterance}"


def _slug(text: str) -> str:
    """``text`` as a file-name part: runs of other characters than ``A-Za-z0-9.-`` -> ``_``."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("_.") or "x"


def _limited(wave: np.ndarray) -> np.ndarray:
    """``wave`` scaled down to a peak of :data:`PEAK` if louder (so nothing is clipped)."""
    peak = float(np.max(np.abs(wave), initial=0.0))
    return wave * (PEAK / peak) if peak > PEAK else wave


def _writable_folder(out_dir: Path) -> None:
    """Create ``out_dir`` (and parents) or raise UnweaveError if it cannot be a folder."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UnweaveError(
            f"{out_dir}: cannot be used as the output folder ({error.strerror}); "
            "expected a folder path."
        ) from None


def save_audio_swaps(
    model: nn.Module,
    data: SeriesData,
    out_dir: str | Path,
    pairs: Sequence[tuple[int, int]] | None = None,
    n: int = 3,
    n_iter: int = 60,
) -> list[Path]:
    """Write speaker swaps of ``data`` (a test split) as WAV files and ``audio-swaps.png``.

    ``pairs`` are ``(voice utterance, words utterance)`` ids; by default
    :func:`pick_speaker_pairs` picks ``n``. Per pair ``k`` (from 1): both sources
    re-synthesised from their features (as the swap is, so they compare like for like),
    ``swap-k-voice-source-<speaker>-<content>.wav`` and ``swap-k-words-source-...wav``,
    and the swap ``swap-k-voice-of-<speaker A>-words-of-<speaker B>.wav``. The figure has a
    row per pair: spectrograms of the voice source, the words source and the swap.
    Everything is computed before anything is written; each file appears whole. Returns
    the paths: three WAVs per pair, then the PNG.
    """
    out_dir = Path(out_dir)
    with torch.no_grad():
        first = torch.from_numpy(np.asarray(data.x[:1], dtype=np.float32))
        _static_posterior(model, first.to(_device(model)))
    _writable_folder(out_dir)
    chosen = pick_speaker_pairs(data, n) if pairs is None else [(int(a), int(b)) for a, b in pairs]
    if not chosen:
        raise UnweaveError("No utterance pairs given; expected at least one (voice, words) pair.")
    waves: list[tuple[str, np.ndarray, int]] = []
    levels, titles = [], []
    for k, (a, b) in enumerate(chosen, start=1):
        (speaker_a, content_a), (speaker_b, content_b) = (
            describe_utterance(data, a),
            describe_utterance(data, b),
        )
        clips = [
            (
                f"swap-{k}-voice-source-{_slug(speaker_a)}-{_slug(content_a)}.wav",
                utterance_features(data, a),
                f"voice: {speaker_a}, {content_a}",
            ),
            (
                f"swap-{k}-words-source-{_slug(speaker_b)}-{_slug(content_b)}.wav",
                utterance_features(data, b),
                f"words: {speaker_b}, {content_b}",
            ),
            (
                f"swap-{k}-voice-of-{_slug(speaker_a)}-words-of-{_slug(speaker_b)}.wav",
                swap_utterances(model, data, a, b),
                f"swap: voice of {speaker_a}, {content_b}",
            ),
        ]
        for name, features, _ in clips:
            wave, rate = to_wave(features, data, n_iter)
            waves.append((name, _limited(wave), rate))
        levels.append([spectrogram_db(features, data) for _, features, _ in clips])
        titles.append([caption for _, _, caption in clips])
    paths = []
    for name, wave, rate in waves:
        write_wav(out_dir / name, wave, rate)
        paths.append(out_dir / name)
    paths.append(
        plot_spectrogram_grid(
            levels,
            titles,
            out_dir / "audio-swaps.png",
            bin_frequencies(data),
            frame_seconds(data),
            title=f"{data.name}: speaker swaps (voice of the first, words of the second)",
        )
    )
    return paths
