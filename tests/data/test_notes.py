"""Instrument notes rendered from pretty-midi's SoundFont with TinySoundFont."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tinysoundfont")
pytest.importorskip("pretty_midi")

from unweave.data.notes import (  # noqa: E402  (after the skips)
    FRAMES,
    GAIN,
    INSTRUMENTS,
    N_FFT,
    OOD_INSTRUMENTS,
    PERIOD,
    RATE,
    NoteSynth,
    default_soundfont,
    envelope,
    load_notes,
    note_fragments,
)
from unweave.errors import UnweaveError

BIN_HZ = RATE / N_FFT  # 15.625 Hz


@pytest.fixture(scope="module")
def synth() -> NoteSynth:
    return NoteSynth()


def spectrum(synth: NoteSynth, program: int, pitch: int, bins: int = 512) -> np.ndarray:
    """Mean log magnitude ``(bins,)`` over the 32 frames of one note."""
    wave = synth.render(program, [pitch], [100])
    return note_fragments(wave, 1, bins)[0].mean(axis=1)


def test_a4_peaks_at_440_hz(synth: NoteSynth) -> None:
    # MIDI 69 = 440 Hz -> bin 440 / (16000 / 1024) = 28.2 -> 28; 128 bins of 62.5 Hz -> 7.
    for program in (41, 72, 75, 73):  # viola, piccolo, pan flute, flute: strong fundamentals
        assert spectrum(synth, program, 69).argmax() == 28
        assert spectrum(synth, program, 69, bins=128).argmax() == 7


def test_every_pitch_peaks_at_its_frequency(synth: NoteSynth) -> None:
    for pitch in range(60, 72):
        hertz = 440 * 2 ** ((pitch - 69) / 12)
        assert abs(spectrum(synth, 75, pitch).argmax() - hertz / BIN_HZ) < 1, pitch


def test_programs_sound_different_at_one_pitch(synth: NoteSynth) -> None:
    spectra = {p: spectrum(synth, p, 64) for p in (64, 19, 56, 52)}  # sax, organ, trumpet, choir
    again = spectrum(synth, 64, 64)
    np.testing.assert_array_equal(again, spectra[64])  # rendering is deterministic
    low = slice(0, 256)  # up to 4 kHz, where the instruments' harmonics are
    for a in spectra:
        for b in spectra:
            if a < b:
                gap = np.abs(spectra[a][low] - spectra[b][low]).mean()
                assert gap > 0.5, (a, b)  # natural-log units, i.e. a factor ~1.6 on average


def test_render_places_notes_one_period_apart(synth: NoteSynth) -> None:
    wave = synth.render(41, [60, 67, 64], [90, 100, 110])
    assert wave.shape == (3 * PERIOD,) and wave.dtype == np.float32
    onsets = [np.abs(wave[k * PERIOD : k * PERIOD + 400]).max() for k in range(3)]
    fragments = note_fragments(wave, 3)
    assert fragments.shape == (3, 512, FRAMES) and min(onsets) > 0
    peaks = fragments.mean(axis=2).argmax(axis=1)
    expected = [440 * 2 ** ((p - 69) / 12) / BIN_HZ for p in (60, 67, 64)]
    assert np.abs(peaks - np.array(expected)).max() < 1


def test_envelope_stays_in_range() -> None:
    gains = envelope(np.random.default_rng(3), 12)
    assert gains.shape == (12 * PERIOD,) and gains.dtype == np.float32
    assert GAIN[0] - 1e-6 <= gains.min() and gains.max() <= GAIN[1] + 1e-6
    assert np.abs(np.diff(gains)).max() < 1e-3  # continuous: no jumps between notes
    assert gains.std() > 0.01


@pytest.fixture(scope="module")
def notes() -> dict:
    """All four splits with one training sample per instrument (one in each other split)."""
    return {s: load_notes(s, n_samples_per_instrument=1) for s in ("train", "valid", "test", "ood")}


def test_shapes_labels_and_normalisation(notes: dict) -> None:
    for split, data in notes.items():
        instruments = OOD_INSTRUMENTS if split == "ood" else INSTRUMENTS
        n = len(instruments)
        assert data.x.shape == (n, 12, 1, 512, 32) and data.x.dtype == np.float32
        assert data.content.shape == (n, 12) and data.style.shape == (n,)
        assert sorted(data.style.tolist()) == list(range(n))  # one sample per instrument
        for row in data.content:  # each sample plays the 12 pitches once
            assert sorted(row.tolist()) == list(range(12))
        assert data.meta["programs"] == list(instruments)
        assert data.meta["value_names"]["style"] == list(instruments.values())
        assert data.meta["value_names"]["content"][9] == "A4"
        assert ((data.meta["velocity"] >= 80) & (data.meta["velocity"] <= 120)).all()
    assert notes["ood"].meta["programs"] == [0, 4, 73, 78]
    assert not set(notes["ood"].meta["programs"]) & set(notes["train"].meta["programs"])


def test_raw_log_magnitudes_by_default_z_scored_on_request(notes: dict) -> None:
    """The reference feeds raw log(|STFT| + 1e-5) (no z-scoring); ``zscore=True`` divides by
    one scalar mean and std of the training split, and ``meta`` undoes either."""
    train = notes["train"]
    raw = np.asarray(train.x)
    assert (train.meta["mean"], train.meta["std"]) == (0.0, 1.0)
    assert raw.min() >= np.log(1e-5) - 1e-3 and raw.max() < 8
    assert raw.mean() < -2  # quiet bins near log(1e-5) dominate: clearly not z-scored
    assert train.meta["train_mean"] == pytest.approx(float(raw.mean(dtype=np.float64)), abs=1e-3)
    assert train.meta["train_std"] == pytest.approx(float(raw.std(dtype=np.float64)), rel=1e-3)
    scored = load_notes("train", n_samples_per_instrument=1, zscore=True)
    x = np.asarray(scored.x)
    assert abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1) < 1e-3
    assert x.dtype == np.float32
    np.testing.assert_allclose(x * scored.meta["std"] + scored.meta["mean"], raw, atol=1e-4)
    valid = load_notes("valid", n_samples_per_instrument=1, zscore=True)  # training statistics
    np.testing.assert_allclose(
        np.asarray(valid.x),
        (np.asarray(notes["valid"].x) - train.meta["train_mean"]) / train.meta["train_std"],
        rtol=1e-5,
        atol=1e-5,
    )


def test_content_is_the_pitch_played(notes: dict) -> None:
    data = notes["train"]
    viola = data.meta["programs"].index(41)
    sample = int(np.flatnonzero(data.style == viola)[0])
    peaks = np.asarray(data.x[sample, :, 0]).mean(axis=2).argmax(axis=1)
    hertz = 440 * 2 ** ((data.content[sample] + 60 - 69) / 12)
    assert np.abs(peaks - hertz / BIN_HZ).max() < 1


def test_deterministic_by_seed(notes: dict, fresh_cache: Path) -> None:
    again = load_notes("valid", n_samples_per_instrument=1)
    np.testing.assert_array_equal(np.asarray(again.x), np.asarray(notes["valid"].x))
    np.testing.assert_array_equal(again.content, notes["valid"].content)
    other = load_notes("valid", n_samples_per_instrument=1, seed=1, bins=64)
    assert other.x.shape == (12, 12, 1, 64, 32)
    assert not np.array_equal(other.content, again.content)


def test_bad_sound_fonts(tmp_path: Path) -> None:
    missing = tmp_path / "none.sf2"
    with pytest.raises(UnweaveError, match=f"{missing}: file not found"):
        load_notes("train", soundfont=missing)
    text = tmp_path / "notes.sf2"
    text.write_text("not a sound font")
    with pytest.raises(UnweaveError, match=f"{text}: not a SoundFont"):
        load_notes("train", soundfont=text)
    cut = tmp_path / "cut.sf2"
    cut.write_bytes(default_soundfont().read_bytes()[:100_000])
    with pytest.raises(UnweaveError, match=f"{cut}: 100000 bytes but the header declares"):
        NoteSynth(cut)
    with pytest.raises(UnweaveError, match="bins 100; expected one of"):
        load_notes("train", bins=100)
    with pytest.raises(UnweaveError, match="Unknown split 'dev'"):
        load_notes("dev")
