"""Audio views of speech models: re-assembly, swaps, features back to sound, swap files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image
from torch import nn

from unweave.data.audio import FeatureNorm, segments, stft_magnitude
from unweave.data.speech import DIGITS, RATE, SETTINGS, feature_names, features_of
from unweave.data.timeseries import SeriesData
from unweave.errors import UnweaveError
from unweave.models.audio_dbse import AudioDBSE, AudioDBSEConfig
from unweave.models.base import Latents
from unweave.models.fhvae import FHVAE, FHVAEConfig
from unweave.nn.gaussian import Gaussian
from unweave.viz.audio import (
    describe_utterance,
    pick_speaker_pairs,
    save_audio_swaps,
    swap_utterances,
    to_wave,
    utterance_features,
)

SPEAKERS = ["alice", "bob", "carol"]


pytestmark = pytest.mark.usefixtures("one_thread")


def _tone(hz: float, seconds: float = 0.5, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _series(
    x: np.ndarray, utterance: np.ndarray, kind: str, shift: int, meta: dict | None = None, **kw
) -> SeriesData:
    return SeriesData(
        x=x.astype(np.float32),
        mask=np.ones(x.shape, dtype=bool),
        feature_names=[f"f{k}" for k in range(x.shape[2])],
        name="toy-speech",
        split="test",
        groups={"utterance": utterance, **kw.pop("groups", {})},
        meta={"features": kind, "rate": RATE, "shift": shift, **(meta or {})},
        **kw,
    )


def _speech(kind: str = "stft", shift: int = 10, per_speaker: int = 2) -> SeriesData:
    """Utterances of tones: each speaker its own pitch, each utterance a digit label."""
    cuts, utterance, speaker, digit, paths = [], [], [], [], []
    for s in range(len(SPEAKERS)):
        for k in range(per_speaker):
            u = s * per_speaker + k
            wave = _tone(300 + 500 * s) + _tone(2000 + 300 * k, amplitude=0.1)
            cut = segments(features_of(wave, kind), 20, shift)
            cuts.append(cut)
            utterance += [u] * len(cut)
            speaker += [s] * len(cut)
            digit += [u % 10] * len(cut)
            paths += [f"{SPEAKERS[s]}/{u:03d}-{DIGITS[u % 10]}.wav"] * len(cut)
    raw = np.concatenate(cuts)
    norm = FeatureNorm.fit(raw)
    data = _series(
        norm.apply(raw),
        np.array(utterance),
        kind,
        shift,
        meta={
            "mean": norm.mean,
            "std": norm.std,
            "settings": dict(SETTINGS[kind]),
            "segment": 20,
            "value_names": {"speaker": SPEAKERS, "digit": list(DIGITS)},
        },
        static={"speaker": np.array(speaker), "digit": np.array(digit)},
        groups={"speaker_name": np.array(SPEAKERS)[speaker], "path": np.array(paths)},
    )
    data.feature_names = feature_names(kind)
    return data


def _tiny_dbse() -> AudioDBSE:
    torch.manual_seed(0)
    config = AudioDBSEConfig(
        n_features=201, encoder_hidden=8, g_dim=8, f_dim=4, z_dim=4, rnn_size=8
    )
    return AudioDBSE(config).eval()


class ShiftModel(nn.Module):
    """Static code: a segment's mean; dynamic code: the segment minus it; decode adds them."""

    def __init__(self, embedding: float | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        if embedding is not None:
            self.utterance_embeddings = lambda x, ids: torch.full((1, 1), embedding)

    def encode(self, x: torch.Tensor) -> Latents:
        static = x.mean(dim=(1, 2))[:, None]
        dynamic = x - static[:, :, None]
        return Latents(
            static=Gaussian(static, torch.zeros_like(static)),
            dynamic=Gaussian(dynamic, torch.zeros_like(dynamic)),
        )

    def decode(self, static: torch.Tensor, dynamic: torch.Tensor) -> torch.Tensor:
        return dynamic + static[:, :, None]


def _dominant_hz(wave: np.ndarray) -> float:
    """The frequency of the loudest STFT bin (400-point FFT, 40 Hz bins), averaged over time."""
    return float(np.argmax(stft_magnitude(wave).mean(axis=0)) * RATE / 400)


# --------------------------------------------------------------------------- re-assembly


@pytest.mark.parametrize("shift", [2, 3, 5])
def test_reassembly_reproduces_the_utterance(shift):
    length, width = 5, 3
    rng = np.random.default_rng(shift)
    frames = [(n - 1) * shift + length for n in (4, 3)]
    utterances = [rng.normal(size=(f, width)) for f in frames]
    cuts = [segments(u, length, shift) for u in utterances]
    x = np.concatenate(cuts)
    ids = np.concatenate([np.full(len(c), k) for k, c in enumerate(cuts)])
    data = _series(x, ids, "stft", shift)
    for k, expected in enumerate(utterances):
        np.testing.assert_allclose(utterance_features(data, k), expected, rtol=1e-6, atol=1e-6)


def test_reassembly_averages_overlapping_frames():
    x = np.stack([np.zeros((4, 1)), np.full((4, 1), 2.0)])
    data = _series(x, np.array([7, 7]), "stft", 2)
    np.testing.assert_array_equal(utterance_features(data, 7)[:, 0], [0, 0, 1, 1, 2, 2])


def test_reassembly_names_a_missing_utterance():
    data = _series(np.zeros((2, 4, 1)), np.array([0, 1]), "stft", 4)
    with pytest.raises(UnweaveError, match="no utterance 5"):
        utterance_features(data, 5)


# --------------------------------------------------------------------------- features -> sound


def test_stft_inversion_keeps_the_tone():
    wave = _tone(1000, seconds=0.4)
    magnitude = stft_magnitude(wave)
    mean, std = magnitude.mean(axis=0), magnitude.std(axis=0) + 1.0
    data = _series(
        np.zeros((1, 2, 201)),
        np.array([0]),
        "stft",
        20,
        meta={"mean": mean, "std": std, "settings": dict(SETTINGS["stft"])},
    )
    out, rate = to_wave((magnitude - mean) / std, data, n_iter=30)
    assert rate == RATE and out.dtype == np.float32
    assert out.shape == ((len(magnitude) - 1) * 165,)
    assert abs(_dominant_hz(out) - 1000) <= RATE / 400  # within one bin


def test_fbank_inversion_keeps_the_tone_roughly():
    wave = _tone(1000, seconds=0.4)
    log_energies = features_of(wave, "fbank")
    data = _series(
        np.zeros((1, 2, 80)),
        np.array([0]),
        "fbank",
        20,
        meta={"mean": np.zeros(80), "std": np.ones(80), "settings": dict(SETTINGS["fbank"])},
    )
    out, rate = to_wave(log_energies, data, n_iter=30)
    assert rate == RATE
    assert out.shape == ((len(log_energies) - 1) * 160,)
    assert abs(_dominant_hz(out) - 1000) <= 80  # inside the mel filter around 1 kHz
    rms, ref = np.sqrt(np.mean(out**2)), np.sqrt(np.mean(wave**2))
    assert ref / 2 < rms < 2 * ref  # the level survives the inversion


def test_to_wave_checks_the_feature_width():
    data = _speech()
    with pytest.raises(UnweaveError, match=r"expected \(frames, 201\)"):
        to_wave(np.zeros((10, 80)), data)


# --------------------------------------------------------------------------- swaps


def test_swap_decodes_the_words_with_the_static_mean():
    data = _speech(shift=20)  # no overlap: the expected output is the segments laid end to end
    a, b = 0, 3
    rows_a = data.groups["utterance"] == a
    rows_b = data.groups["utterance"] == b
    code = data.x[rows_a].mean(axis=(1, 2)).mean()
    segs_b = data.x[rows_b]
    expected = (segs_b - segs_b.mean(axis=(1, 2), keepdims=True) + code).reshape(-1, 201)
    out = swap_utterances(ShiftModel(), data, a, b)
    assert out.shape == utterance_features(data, b).shape == (len(segs_b) * 20, 201)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_swap_uses_the_utterance_embedding_when_the_model_has_one():
    data = _speech(shift=20)
    out = swap_utterances(ShiftModel(embedding=7.0), data, 0, 3)
    segs_b = data.x[data.groups["utterance"] == 3]
    expected = (segs_b - segs_b.mean(axis=(1, 2), keepdims=True) + 7.0).reshape(-1, 201)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_swap_with_a_tiny_dbse_is_repeatable_and_leaves_the_random_state():
    data = _speech()
    model = _tiny_dbse()
    state = torch.get_rng_state()
    first = swap_utterances(model, data, 1, 4)
    assert torch.equal(state, torch.get_rng_state())
    assert first.shape == utterance_features(data, 4).shape
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, swap_utterances(model, data, 1, 4))


def test_swap_with_a_tiny_fhvae_has_the_words_length():
    data = _speech("fbank")
    torch.manual_seed(0)
    model = FHVAE(
        FHVAEConfig(n_features=80, segment=20, rnn_size=8, z1_dim=4, z2_dim=4, n_sequences=6)
    ).eval()
    out = swap_utterances(model, data, 0, 5)
    assert out.shape == utterance_features(data, 5).shape
    assert np.isfinite(out).all()


# --------------------------------------------------------------------------- pairs and files


def test_pairs_are_deterministic_disjoint_and_of_different_speakers():
    data = _speech(per_speaker=4)
    pairs = pick_speaker_pairs(data, 3)
    assert pairs == pick_speaker_pairs(data, 3)
    assert len(pairs) == 3
    assert len({u for pair in pairs for u in pair}) == 6
    speaker, digit = data.static["speaker"], data.static["digit"]
    first = {int(u): i for i, u in reversed(list(enumerate(data.groups["utterance"])))}
    for a, b in pairs:
        assert speaker[first[a]] != speaker[first[b]]
        assert digit[first[a]] != digit[first[b]]
    for seed in range(5):  # the second pair brings in the speaker the first one left out
        two = pick_speaker_pairs(data, 2, seed=seed)
        assert {speaker[first[u]] for pair in two for u in pair} == {0, 1, 2}


def test_pairs_need_two_speakers():
    data = _speech()
    data.static["speaker"] = np.zeros_like(data.static["speaker"])
    with pytest.raises(UnweaveError, match="at least two speakers"):
        pick_speaker_pairs(data, 2)


def test_utterances_are_described_by_value_names():
    assert describe_utterance(_speech(), 3) == ("bob", "three")


def test_save_audio_swaps_writes_wavs_and_a_figure(tmp_path):
    data = _speech()
    out = tmp_path / "swaps"
    paths = save_audio_swaps(_tiny_dbse(), data, out, n=2, n_iter=4)
    wavs, png = paths[:-1], paths[-1]
    assert len(wavs) == 6 and png == out / "audio-swaps.png"
    pairs = pick_speaker_pairs(data, 2)
    for k, (a, b) in enumerate(pairs, start=1):
        speaker_a, speaker_b = describe_utterance(data, a)[0], describe_utterance(data, b)[0]
        assert speaker_a != speaker_b
        assert out / f"swap-{k}-voice-of-{speaker_a}-words-of-{speaker_b}.wav" in wavs
    for path in wavs:
        wave, rate = sf.read(path)
        assert rate == RATE
        assert np.sqrt(np.mean(wave**2)) > 1e-4
    with Image.open(png) as image:
        assert image.format == "PNG"
    assert sorted(out.iterdir()) == sorted(paths)  # no temporary file left behind


def test_save_audio_swaps_with_fbank_features(tmp_path):
    data = _speech("fbank")
    torch.manual_seed(0)
    model = FHVAE(
        FHVAEConfig(n_features=80, segment=20, rnn_size=8, z1_dim=4, z2_dim=4, n_sequences=6)
    ).eval()
    paths = save_audio_swaps(model, data, tmp_path, pairs=[(0, 5)], n_iter=4)
    assert [p.name for p in paths] == [
        "swap-1-voice-source-alice-zero.wav",
        "swap-1-words-source-carol-five.wav",
        "swap-1-voice-of-alice-words-of-carol.wav",
        "audio-swaps.png",
    ]
    assert all(p.is_file() for p in paths)


def test_save_audio_swaps_refuses_a_file_as_folder(tmp_path):
    target = tmp_path / "taken"
    target.write_text("keep me")
    with pytest.raises(UnweaveError, match="output folder"):
        save_audio_swaps(_tiny_dbse(), _speech(), target, n=1, n_iter=2)
    assert target.read_text() == "keep me"


def test_save_audio_swaps_writes_nothing_for_a_bad_pair(tmp_path):
    out = tmp_path / "swaps"
    with pytest.raises(UnweaveError, match="no utterance 99"):
        save_audio_swaps(_tiny_dbse(), _speech(), out, pairs=[(0, 2), (1, 99)], n_iter=2)
    assert not list(out.iterdir())
