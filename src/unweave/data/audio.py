"""The audio front end: read and resample waves, spectral features, segments, and the way back.

Two feature kinds, one per method family:

- :func:`stft_magnitude`: DBSE's TIMIT features, a linear-magnitude STFT with 201 bins
  (``n_fft`` 400, window 320, hop 165 at 16 kHz; a 3200-sample chunk gives 20 frames).
- :func:`log_mel`: FHVAE's Kaldi FBank features, 80 log mel energies per 25 ms / 10 ms frame.

Waves are float32 mono in [-1, 1]. Every unreadable input raises
:class:`~unweave.errors.UnweaveError` with one sentence naming the file.
"""

from __future__ import annotations

import functools
import math
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from scipy.signal import resample_poly

from unweave.errors import UnweaveError

KALDI_LOW_FREQ = 20.0  # Kaldi's --low-freq default (Hz); --high-freq 0 means the Nyquist rate
KALDI_PREEMPHASIS = 0.97  # Kaldi's --preemphasis-coefficient default
INT16_SCALE = 32768.0  # Kaldi reads 16-bit samples unscaled; log energies use that scale
AUDIO_RATES = (1_000, 768_000)  # the sample rates read_wav accepts (Hz)
MAX_RESAMPLE_FACTOR = 1_000  # common rates need at most 640/441 (11.025 kHz -> 16 kHz)


def _wav_shortfall(path: Path) -> tuple[int, int] | None:
    """``(declared, present)`` bytes of a RIFF/WAVE file's data chunk when the file ends before
    the chunk does (a truncated file), else None (also for other formats)."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        offset = 12
        while offset + 8 <= size:
            handle.seek(offset)
            chunk = handle.read(8)
            length = int.from_bytes(chunk[4:], "little")
            if chunk[:4] == b"data":
                present = size - offset - 8
                # 0 and 0xFFFFFFFF are the placeholders of writers that stream (length unknown).
                if length not in (0, 0xFFFFFFFF) and length > present:
                    return length, present
                return None
            offset += 8 + length + (length & 1)
    return None


def read_wav(
    path: str | Path, expected_rate: int | None = None, target_rate: int | None = None
) -> tuple[np.ndarray, int]:
    """Read an audio file as a float32 mono wave ``(samples,)`` and its sample rate.

    Channels are averaged. With ``target_rate`` the wave is resampled to it (polyphase,
    :func:`scipy.signal.resample_poly`) and that rate is returned; otherwise, with
    ``expected_rate``, a file at any other rate is an error. WAV, FLAC and NIST SPHERE (the
    original TIMIT release) are read alike through libsndfile. A WAV file shorter than its
    header says (truncated), NaN or infinite samples, a rate outside :data:`AUDIO_RATES` and
    one that resamples to ``target_rate`` only in a ratio of huge numbers are errors.
    """
    path = Path(path)
    if not path.is_file():
        raise UnweaveError(f"{path}: file not found; expected an audio file.")
    try:
        shortfall = _wav_shortfall(path)
        wave, rate = sf.read(path, dtype="float32", always_2d=True)
    except OSError as error:
        raise UnweaveError(
            f"{path}: cannot be read ({error.strerror or error}); expected a readable audio file."
        ) from None
    except (RuntimeError, ValueError, TypeError) as error:
        reason = getattr(error, "error_string", str(error)).rstrip(".")
        raise UnweaveError(
            f"{path}: not readable as audio ({reason}); expected a WAV, FLAC or NIST SPHERE file."
        ) from None
    if shortfall is not None:
        declared, present = shortfall
        raise UnweaveError(
            f"{path}: the data chunk holds {present} bytes but the header says {declared}; "
            "expected a whole WAV file (is it truncated?)."
        )
    if wave.shape[0] == 0:
        raise UnweaveError(f"{path}: the file holds no samples; expected some audio.")
    if not np.isfinite(wave).all():
        frame = int(np.flatnonzero(~np.isfinite(wave).all(axis=1))[0])
        raise UnweaveError(
            f"{path}: sample {frame} is NaN or infinite; expected finite audio samples."
        )
    if not AUDIO_RATES[0] <= rate <= AUDIO_RATES[1]:
        raise UnweaveError(
            f"{path}: the header gives a sample rate of {rate} Hz; expected an audio rate "
            f"from {AUDIO_RATES[0]:,} to {AUDIO_RATES[1]:,} Hz."
        )
    wave = wave.mean(axis=1, dtype=np.float32)
    if target_rate is not None and rate != target_rate:
        divisor = math.gcd(rate, target_rate)
        if max(rate, target_rate) // divisor > MAX_RESAMPLE_FACTOR:
            raise UnweaveError(
                f"{path}: resampling its {rate} Hz to {target_rate} Hz takes the ratio "
                f"{target_rate // divisor}/{rate // divisor}; expected a common audio rate "
                "(8, 11.025, 16, 22.05, 44.1 or 48 kHz...)."
            )
        wave = resample_poly(wave, target_rate // divisor, rate // divisor).astype(np.float32)
        rate = target_rate
    elif expected_rate is not None and rate != expected_rate:
        raise UnweaveError(
            f"{path}: the sample rate is {rate} Hz; expected {expected_rate} Hz as configured."
        )
    return wave, int(rate)


def write_wav(path: str | Path, wave: np.ndarray, rate: int) -> None:
    """Write ``wave (samples,)`` as a 16-bit WAV file, atomically (temp file, then rename).

    Samples outside [-1, 1] are clipped.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        samples = np.clip(np.asarray(wave, dtype=np.float32), -1.0, 1.0)
        sf.write(tmp, samples, int(rate), format="WAV", subtype="PCM_16")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def stft_magnitude(
    wave: np.ndarray, n_fft: int = 400, win_length: int = 320, hop_length: int = 165
) -> np.ndarray:
    """Linear STFT magnitude (power 1): ``(1 + samples // hop_length, n_fft // 2 + 1)`` float32.

    The definition of :func:`torch.stft` with ``center=True`` (reflect padding by
    ``n_fft // 2``) and a periodic Hann window of ``win_length`` centred in ``n_fft``, i.e.
    what ``torchaudio.transforms.Spectrogram(n_fft=400, win_length=320, hop_length=165,
    power=1)`` returns in DBSE's TIMIT pipeline. It is computed with numpy's FFT: on short
    utterances torch's thread pool costs far more than the transform (20 ms against 0.7 ms
    per FSDD file on a busy 2-core machine); the tests check it equals ``torch.stft``.
    """
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1 or len(wave) <= n_fft // 2:
        raise UnweaveError(
            f"stft_magnitude: the wave has shape {wave.shape}; "
            f"expected one channel of more than {n_fft // 2} samples."
        )
    padded = np.pad(wave, n_fft // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]
    window = np.zeros(n_fft)
    left = (n_fft - win_length) // 2
    window[left : left + win_length] = 0.5 - 0.5 * np.cos(
        2 * np.pi * np.arange(win_length) / win_length
    )
    return np.abs(np.fft.rfft(frames * window, axis=1)).astype(np.float32)


def mel_scale(freq: np.ndarray | float) -> np.ndarray:
    """Kaldi's (HTK's) mel scale: ``1127 ln(1 + f / 700)``."""
    return 1127.0 * np.log1p(np.asarray(freq, dtype=np.float64) / 700.0)


@functools.lru_cache(maxsize=8)
def kaldi_mel_banks(n_mels: int, rate: int, n_fft: int) -> np.ndarray:
    """Kaldi's mel filterbank ``(n_mels, n_fft // 2 + 1)`` for power spectra of ``n_fft`` points.

    Bin centres are equally spaced on the mel scale from 20 Hz to the Nyquist rate and each
    filter is a triangle *on the mel axis* (Kaldi's ``MelBanks``). ``librosa.filters.mel``
    draws its triangles on the hertz axis instead, so it cannot reproduce Kaldi's FBank; this
    matrix is written here for that reason (and it spares a librosa/numba dependency).
    Cached and read-only.
    """
    edges = np.linspace(mel_scale(KALDI_LOW_FREQ), mel_scale(rate / 2), n_mels + 2)
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    mel = mel_scale(np.arange(n_fft // 2 + 1) * rate / n_fft)[None, :]
    rising = (mel - left) / (centre - left)
    falling = (right - mel) / (right - centre)
    weights = np.where(mel <= centre, rising, falling)
    banks = np.where((mel > left) & (mel < right), weights, 0.0)
    banks.setflags(write=False)
    return banks


def log_mel(
    wave: np.ndarray, rate: int, n_mels: int = 80, win_ms: float = 25, hop_ms: float = 10
) -> np.ndarray:
    """Kaldi-style log mel filterbank energies ``(frames, n_mels)`` float32 (FHVAE's features).

    As ``compute-fbank-feats`` with its defaults: frames without edge padding
    (``snip_edges``), DC removal, pre-emphasis 0.97, Hamming window, FFT padded to a power
    of two, power spectrum, :func:`kaldi_mel_banks`, natural log floored at float32 epsilon,
    no energy term; samples scaled to 16-bit units as Kaldi reads them. Unlike FHVAE's runs
    there is no dither (Gaussian noise of one 16-bit step), so features are deterministic.
    A wave shorter than one window gives ``(0, n_mels)``.
    """
    win = int(round(rate * win_ms / 1000))
    hop = int(round(rate * hop_ms / 1000))
    wave = np.asarray(wave, dtype=np.float64) * INT16_SCALE
    if len(wave) < win:
        return np.zeros((0, n_mels), dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(wave, win)[::hop]
    frames = frames - frames.mean(axis=1, keepdims=True)
    frames = np.concatenate(
        [
            frames[:, :1] * (1 - KALDI_PREEMPHASIS),
            frames[:, 1:] - KALDI_PREEMPHASIS * frames[:, :-1],
        ],
        axis=1,
    )
    frames = frames * np.hamming(win)
    n_fft = 1 << (win - 1).bit_length()
    power = np.abs(np.fft.rfft(frames, n=n_fft, axis=1)) ** 2
    energies = power @ kaldi_mel_banks(n_mels, rate, n_fft).T
    return np.log(np.maximum(energies, np.finfo(np.float32).eps)).astype(np.float32)


def segments(
    features: np.ndarray, length: int = 20, shift: int = 20, name: str = "the utterance"
) -> np.ndarray:
    """Consecutive segments ``(n, length, F)`` of ``features (frames, F)``, starting every ``shift``.

    A remainder shorter than ``length`` is dropped; fewer than ``length`` frames is an error
    naming ``name``.
    """
    if len(features) < length:
        raise UnweaveError(
            f"{name}: {len(features)} frames; expected at least {length} for one segment."
        )
    windows = np.lib.stride_tricks.sliding_window_view(features, length, axis=0)[::shift]
    return np.ascontiguousarray(windows.transpose(0, 2, 1))


def wave_chunks(wave: np.ndarray, length: int) -> np.ndarray:
    """Consecutive non-overlapping chunks ``(ceil(samples / length), length)`` of ``wave``.

    The last chunk is zero-padded to ``length`` and kept (DBSE's ``torch.split`` of the wave
    into 200 ms pieces, ``audio/train_and_eval_timit.py:64-65``).
    """
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1 or len(wave) == 0 or length < 1:
        raise UnweaveError(
            f"wave_chunks: a wave of shape {wave.shape} in chunks of {length} samples; "
            "expected one non-empty channel and a positive length."
        )
    padded = np.zeros(-(-len(wave) // length) * length, dtype=np.float32)
    padded[: len(wave)] = wave
    return padded.reshape(-1, length)


def griffin_lim(
    magnitude: np.ndarray,
    n_fft: int = 400,
    win_length: int = 320,
    hop_length: int = 165,
    n_iter: int = 60,
    momentum: float = 0.99,
) -> np.ndarray:
    """A wave ``((frames - 1) * hop_length,)`` whose STFT magnitude approximates ``magnitude``.

    ``magnitude`` is ``(frames, n_fft // 2 + 1)`` as :func:`stft_magnitude` returns it. Fast
    Griffin-Lim (Perraudin et al., 2013, with ``momentum``, the default of librosa and
    torchaudio), in torch with the same window and centring as :func:`stft_magnitude`;
    phases start at zero, so the result is deterministic.
    """
    target = torch.from_numpy(np.ascontiguousarray(magnitude, dtype=np.float32).T)
    window = torch.hann_window(win_length)
    length = (target.shape[1] - 1) * hop_length
    settings = {"n_fft": n_fft, "hop_length": hop_length, "win_length": win_length}
    angles = torch.ones_like(target, dtype=torch.complex64)
    previous = torch.zeros_like(angles)
    for _ in range(n_iter):
        wave = torch.istft(target * angles, **settings, window=window, length=length)
        rebuilt = torch.stft(wave, **settings, window=window, return_complex=True)
        angles = rebuilt - (momentum / (1 + momentum)) * previous
        angles = angles / angles.abs().clamp_min(1e-16)
        previous = rebuilt
    wave = torch.istft(target * angles, **settings, window=window, length=length)
    return wave.numpy().astype(np.float32)


@dataclass
class FeatureNorm:
    """Per-bin z-score: ``mean`` and ``std`` ``(F,)`` fitted on training features only."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray | Iterable[np.ndarray], floor: float = 1e-3) -> FeatureNorm:
        """Fit on ``features (..., F)`` or on an iterable of such blocks (streamed).

        A bin whose std is below ``floor`` times the largest bin's is divided by that floor
        instead (1 if every bin is constant): the empty band above 4 kHz of 8 kHz audio
        resampled to 16 kHz holds only filter leakage (~1e-4 of the loudest bin on FSDD),
        which a plain z-score would blow up into unit-variance noise. Blocks are merged with
        Chan et al.'s pairwise update, so data larger than memory can be fitted block by block.
        """
        blocks = [features] if isinstance(features, np.ndarray) else features
        count, mean, m2 = 0, 0.0, 0.0
        for block in blocks:
            flat = np.asarray(block, dtype=np.float64).reshape(-1, block.shape[-1])
            n = len(flat)
            if n == 0:
                continue
            block_mean = flat.mean(axis=0)
            delta = block_mean - mean
            total = count + n
            mean = mean + delta * (n / total)
            m2 = m2 + ((flat - block_mean) ** 2).sum(axis=0) + delta**2 * (count * n / total)
            count = total
        if count == 0:
            raise UnweaveError("FeatureNorm.fit: no feature rows; expected at least one.")
        std = np.sqrt(m2 / count)
        std = np.maximum(std, floor * std.max()) if std.max() > 0 else np.ones_like(std)
        return cls(np.asarray(mean, dtype=np.float32), std.astype(np.float32))

    def apply(self, features: np.ndarray) -> np.ndarray:
        """``(features - mean) / std`` as float32, any leading shape."""
        return ((features - self.mean) / self.std).astype(np.float32)

    def invert(self, features: np.ndarray) -> np.ndarray:
        """``features * std + mean`` as float32: back to the feature scale."""
        return (features * self.std + self.mean).astype(np.float32)
