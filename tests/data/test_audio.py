"""The audio front end: known answers on tones, round trips, and bad files named in errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from unweave.data.audio import (
    FeatureNorm,
    griffin_lim,
    kaldi_mel_banks,
    log_mel,
    read_wav,
    segments,
    stft_magnitude,
    write_wav,
)
from unweave.errors import UnweaveError


def tone(freq: float, samples: int, rate: int = 16000) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(samples) / rate)).astype(np.float32)


def htk_mel(freq: float | np.ndarray) -> np.ndarray:
    return 1127.0 * np.log(1.0 + np.asarray(freq) / 700.0)


# ----------------------------------------------------------------------------- STFT


def test_stft_of_a_dbse_chunk_has_20_frames_of_201_bins_and_a_tone_peaks_at_its_bin() -> None:
    # 2000 Hz is bin 50 of a 400-point FFT at 16 kHz (40 Hz per bin).
    spec = stft_magnitude(tone(2000.0, 3200))
    assert spec.shape == (20, 201) and spec.dtype == np.float32
    assert (spec[1:-1].argmax(axis=1) == 50).all()
    assert spec.mean(axis=0).argmax() == 50


def test_stft_equals_torch_stft_with_dbse_settings() -> None:
    wave = np.random.default_rng(0).normal(size=5000).astype(np.float32)
    reference = torch.stft(
        torch.from_numpy(wave),
        n_fft=400,
        hop_length=165,
        win_length=320,
        window=torch.hann_window(320),
        center=True,
        return_complex=True,
    )
    expected = reference.abs().T.numpy()
    np.testing.assert_allclose(stft_magnitude(wave), expected, rtol=1e-4, atol=1e-4)


def test_stft_rejects_a_wave_too_short_to_pad() -> None:
    with pytest.raises(UnweaveError, match="more than 200 samples"):
        stft_magnitude(np.zeros(150, dtype=np.float32))


# ----------------------------------------------------------------------------- log mel


def test_kaldi_mel_triangles_sum_to_one_between_the_first_and_last_centre() -> None:
    banks = kaldi_mel_banks(80, 16000, 512)
    assert banks.shape == (80, 257)
    centres = np.linspace(htk_mel(20.0), htk_mel(8000.0), 82)[1:-1]
    mel = htk_mel(np.arange(257) * 16000 / 512)
    inside = (mel > centres[0]) & (mel < centres[-1])
    np.testing.assert_allclose(banks[:, inside].sum(axis=0), 1.0, atol=1e-9)
    assert (banks >= 0).all() and banks[:, 0].sum() == 0  # 0 Hz is below the 20 Hz edge


def test_log_mel_of_a_tone_peaks_at_the_filter_centred_nearest_it() -> None:
    feats = log_mel(tone(1000.0, 16000), 16000)
    assert feats.shape == (1 + (16000 - 400) // 160, 80)  # Kaldi's snip_edges framing
    centres = np.linspace(htk_mel(20.0), htk_mel(8000.0), 82)[1:-1]
    expected = int(np.argmin(np.abs(centres - htk_mel(1000.0))))
    assert (feats.argmax(axis=1) == expected).all()
    # Louder by 2x -> +ln(4) in every log power, whatever the bin.
    np.testing.assert_allclose(
        log_mel(2 * tone(1000.0, 16000), 16000)[:, expected],
        feats[:, expected] + np.log(4),
        atol=1e-3,
    )


def test_log_mel_of_less_than_one_window_is_empty() -> None:
    assert log_mel(np.zeros(399, dtype=np.float32), 16000).shape == (0, 80)


# ----------------------------------------------------------------------------- reading and writing


def test_read_wav_averages_channels_and_resamples(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    left = tone(440.0, 8000, rate=8000)
    sf.write(path, np.stack([left, 0.5 * left], axis=1), 8000, subtype="FLOAT")
    wave, rate = read_wav(path)
    assert rate == 8000 and wave.dtype == np.float32
    np.testing.assert_allclose(wave, 0.75 * left, atol=1e-6)
    up, up_rate = read_wav(path, target_rate=16000)
    assert up_rate == 16000 and len(up) == 16000
    # The tone stays at 440 Hz: bin 11 of a 400-point STFT at 16 kHz (40 Hz per bin).
    assert stft_magnitude(up).mean(axis=0).argmax() == 11
    down, _ = read_wav(path, target_rate=22050)
    assert len(down) == int(np.ceil(8000 * 22050 / 8000))


def test_read_wav_reads_nist_sphere_as_in_timit(tmp_path: Path) -> None:
    path = tmp_path / "SX1.WAV"
    samples = (np.arange(-800, 800) * 16).astype(np.int16)
    sf.write(path, samples, 16000, format="NIST", subtype="PCM_16")
    assert path.read_bytes().startswith(b"NIST_1A")
    wave, rate = read_wav(path, expected_rate=16000)
    assert rate == 16000
    np.testing.assert_allclose(wave, samples / 32768.0, atol=1e-7)


def test_read_wav_errors_name_the_file(tmp_path: Path) -> None:
    text = tmp_path / "notes.wav"
    text.write_text("these are not samples\n")
    with pytest.raises(UnweaveError, match=r"notes\.wav: not readable as audio"):
        read_wav(text)
    slow = tmp_path / "slow.wav"
    sf.write(slow, tone(440.0, 800, rate=8000), 8000)
    with pytest.raises(
        UnweaveError, match=r"slow\.wav: the sample rate is 8000 Hz; expected 16000"
    ):
        read_wav(slow, expected_rate=16000)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(UnweaveError, match=r"empty\.wav: the file holds no samples"):
        read_wav(empty)
    with pytest.raises(UnweaveError, match=r"missing\.wav: file not found"):
        read_wav(tmp_path / "missing.wav")


def test_write_wav_round_trips_and_leaves_nothing_behind_on_failure(tmp_path: Path) -> None:
    wave = tone(300.0, 4000)
    path = tmp_path / "out" / "swap.wav"
    write_wav(path, wave, 16000)
    back, rate = read_wav(path)
    assert rate == 16000
    np.testing.assert_allclose(back, wave, atol=1 / 32768 + 1e-6)
    assert sorted(p.name for p in path.parent.iterdir()) == ["swap.wav"]
    with pytest.raises(sf.LibsndfileError):
        write_wav(tmp_path / "out" / "bad.wav", wave, 0)  # a zero rate is refused
    assert sorted(p.name for p in path.parent.iterdir()) == ["swap.wav"]


# ----------------------------------------------------------------------------- segments, norm


def test_segments_are_consecutive_windows_and_a_short_utterance_is_named() -> None:
    feats = np.arange(50 * 3, dtype=np.float32).reshape(50, 3)
    cut = segments(feats, length=20, shift=20)
    assert cut.shape == (2, 20, 3)  # the last 10 frames are dropped
    np.testing.assert_array_equal(cut[1], feats[20:40])
    half = segments(feats, length=20, shift=10)
    assert half.shape == (4, 20, 3)
    np.testing.assert_array_equal(half[3], feats[30:50])
    with pytest.raises(UnweaveError, match=r"short\.wav: 19 frames; expected at least 20"):
        segments(feats[:19], 20, 20, name="short.wav")


def test_feature_norm_standardises_train_inverts_and_streams() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(3.0, [1.0, 5.0, 0.1], size=(40, 20, 3)).astype(np.float32)
    norm = FeatureNorm.fit(train)
    z = norm.apply(train).reshape(-1, 3)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=1e-4)
    test = rng.normal(size=(5, 20, 3)).astype(np.float32)
    np.testing.assert_allclose(norm.invert(norm.apply(test)), test, atol=1e-5)
    streamed = FeatureNorm.fit(train[i : i + 7] for i in range(0, 40, 7))
    np.testing.assert_allclose(streamed.mean, norm.mean, rtol=1e-6)
    np.testing.assert_allclose(streamed.std, norm.std, rtol=1e-6)


def test_feature_norm_floors_an_empty_band_instead_of_amplifying_it() -> None:
    rng = np.random.default_rng(1)
    feats = np.stack([rng.normal(0, 2.0, 1000), rng.normal(0, 1e-5, 1000)], axis=1)
    norm = FeatureNorm.fit(feats)
    assert norm.std[1] == pytest.approx(2e-3, rel=0.1)  # 1e-3 of the loudest bin's std
    assert np.abs(norm.apply(feats)[:, 1]).max() < 0.1
    assert FeatureNorm.fit(np.ones((5, 2))).std.tolist() == [1.0, 1.0]


# ----------------------------------------------------------------------------- Griffin-Lim


def test_griffin_lim_rebuilds_a_wave_with_the_given_magnitude() -> None:
    t = np.arange(16000) / 16000
    wave = 0.4 * np.sin(2 * np.pi * (300 + 1000 * t) * t) + 0.2 * np.sin(2 * np.pi * 1500 * t)
    target = stft_magnitude(wave.astype(np.float32))
    rebuilt = griffin_lim(target, n_iter=60)
    assert rebuilt.shape == ((len(target) - 1) * 165,)
    again = stft_magnitude(rebuilt)
    assert again.shape == target.shape
    correlation = np.corrcoef(again.ravel(), target.ravel())[0, 1]
    convergence = np.linalg.norm(again - target) / np.linalg.norm(target)
    assert correlation > 0.98 and convergence < 0.2


@pytest.mark.parametrize("cut", [1, 2, 1001])
def test_read_wav_refuses_a_truncated_file(tmp_path: Path, cut: int) -> None:
    whole = tmp_path / "whole.wav"
    sf.write(whole, tone(440.0, 4000, rate=8000), 8000, subtype="PCM_16")
    data = whole.read_bytes()
    cut_file = tmp_path / "cut.wav"
    cut_file.write_bytes(data[:-cut])
    declared = len(data) - 44
    with pytest.raises(
        UnweaveError,
        match=rf"cut\.wav: the data chunk holds {declared - cut} bytes but the header says "
        rf"{declared}; expected a whole WAV file",
    ):
        read_wav(cut_file)
    assert len(read_wav(whole)[0]) == 4000


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_read_wav_refuses_samples_that_are_not_finite(tmp_path: Path, bad: float) -> None:
    wave = tone(440.0, 800, rate=8000)
    wave[123] = bad
    path = tmp_path / "odd.wav"
    sf.write(path, wave, 8000, subtype="FLOAT")
    with pytest.raises(UnweaveError, match=r"odd\.wav: sample 123 is NaN or infinite"):
        read_wav(path)


def _wav_at(path: Path, rate: int) -> Path:
    """A 16-bit mono WAV whose header says ``rate`` Hz (written at 8 kHz, header patched)."""
    sf.write(path, tone(440.0, 800, rate=8000), 8000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    data[24:28] = rate.to_bytes(4, "little")
    data[28:32] = (2 * rate % 2**32).to_bytes(4, "little")  # bytes per second
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("rate", [7, 2**31 - 1])
def test_read_wav_refuses_a_rate_that_is_not_audio(tmp_path: Path, rate: int) -> None:
    path = _wav_at(tmp_path / "odd.wav", rate)
    with pytest.raises(
        UnweaveError, match=rf"odd\.wav: the header gives a sample rate of {rate} Hz; expected"
    ):
        read_wav(path, target_rate=16000)


def test_read_wav_refuses_a_resampling_ratio_of_huge_numbers(tmp_path: Path) -> None:
    path = _wav_at(tmp_path / "odd.wav", 44_101)
    with pytest.raises(UnweaveError, match=r"odd\.wav: resampling its 44101 Hz to 16000 Hz"):
        read_wav(path, target_rate=16000)
    assert read_wav(path)[1] == 44_101  # read as is, it is fine
    assert read_wav(_wav_at(tmp_path / "cd.wav", 44_100), target_rate=16000)[1] == 16000
