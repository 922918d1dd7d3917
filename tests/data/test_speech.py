"""Speech corpora: FSDD on the real files, FSDD digit strings, TIMIT on a tiny hand-made tree,
synthetic speakers."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import SHARED_DATA

from unweave.data.audio import read_wav, stft_magnitude, wave_chunks
from unweave.data.registry import data_modality, load_data
from unweave.data.speech import (
    DIGITS,
    FSDD_STRING_PAUSE_SECONDS,
    PAUSE_SECONDS,
    STFT,
    TIMIT_CORE_TEST,
    TIMIT_CORE_TEST_SPEAKERS,
    FsddTake,
    Segmenting,
    UtteranceDataset,
    features_of,
    group_takes,
    join_words,
    load_fsdd,
    load_fsdd_strings,
    load_synthetic_speech,
    load_timit,
    make_synthetic_speech,
    synthetic_voices,
    words_at,
)
from unweave.data.timeseries import SeriesData
from unweave.errors import UnweaveError
from unweave.training.config import resolve

FSDD = SHARED_DATA / "fsdd" / "recordings"


def tone_file(path: Path, freq: float, seconds: float, rate: int, fmt: str = "WAV") -> None:
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * freq * t) + 0.1 * np.sin(2 * np.pi * 3 * freq * t)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wave.astype(np.float32), rate, format=fmt, subtype="PCM_16")


def check_rows(data: SeriesData, frames: int, bins: int, per_segment: tuple[str, ...] = ()) -> None:
    """Shapes, the utterance numbering 0..U-1, and labels (but ``per_segment``) constant
    within an utterance."""
    n = len(data)
    assert data.x.shape == (n, frames, bins) and data.x.dtype == np.float32
    assert data.mask.shape == data.x.shape and data.mask.all()
    assert len(data.feature_names) == bins
    utterance = data.groups["utterance"]
    assert utterance.dtype == np.int64 and (np.diff(utterance) >= 0).all()
    assert set(utterance) == set(range(data.meta["n_utterances"]))
    starts = np.unique(utterance, return_index=True)[1]
    columns = {
        **{k: v for k, v in data.static.items() if k not in per_segment},
        "speaker_name": data.groups["speaker_name"],
        "path": data.groups["path"],
    }
    for key, values in columns.items():
        assert len(values) == n
        assert (values[starts][utterance] == values).all(), f"{key} changes within an utterance"


# ----------------------------------------------------------------------------- FSDD, real files


@pytest.mark.skipif(not FSDD.exists(), reason="fsdd not in SHARED_DATA")
def test_fsdd_counts_labels_and_train_normalisation() -> None:
    test = load_fsdd(FSDD.parent, "test")
    train = load_fsdd(FSDD, "train")  # the recordings folder or its parent
    # 6 speakers x 10 digits x 50 takes; takes 0-4 are the test split.
    assert test.meta["n_utterances"] + test.meta["n_skipped"] == 300
    assert train.meta["n_utterances"] + train.meta["n_skipped"] == 2700
    assert test.meta["n_skipped"] <= 10 and train.meta["n_skipped"] <= 60  # ~1% are < 20 frames
    check_rows(test, 20, 201)
    check_rows(train, 20, 201)
    assert test.meta["value_names"]["speaker"] == [
        "george",
        "jackson",
        "lucas",
        "nicolas",
        "theo",
        "yweweler",
    ]
    assert test.meta["value_names"]["digit"] == list(DIGITS)
    for data in (train, test):
        assert set(data.static["speaker"]) == set(range(6))
        assert set(data.static["digit"]) == set(range(10))
        np.testing.assert_array_equal(data.targets["digit"], data.static["digit"])
        names = [Path(p).stem.split("_") for p in data.groups["path"]]
        np.testing.assert_array_equal(data.static["digit"], [int(d) for d, _, _ in names])
        speakers = np.array(data.meta["value_names"]["speaker"])[data.static["speaker"]]
        np.testing.assert_array_equal(speakers, [s for _, s, _ in names])
    assert {int(t) for _, _, t in (Path(p).stem.split("_") for p in test.groups["path"])} <= set(
        range(5)
    )
    assert train.meta["rate"] == 16000 and train.meta["features"] == "stft"
    # z-score fitted on train (the bins below 4 kHz carry FSDD's 8 kHz audio) and reused.
    low = np.asarray(train.x[..., :100]).reshape(-1, 100)
    np.testing.assert_allclose(low.mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(low.std(axis=0), 1.0, atol=1e-3)
    np.testing.assert_array_equal(test.meta["mean"], train.meta["mean"])
    np.testing.assert_array_equal(test.meta["std"], train.meta["std"])


# ----------------------------------------------------------------------------- FSDD, small copies


@pytest.fixture
def small_fsdd(tmp_path: Path) -> Path:
    """2 speakers x 2 digits x takes 3-6 as 8 kHz tones (0.45 s each)."""
    folder = tmp_path / "recordings"
    for s, speaker in enumerate(("ann", "bob")):
        for digit in (1, 7):
            for take in range(3, 7):
                freq = 200.0 + 150 * s + 40 * digit + 5 * take
                tone_file(folder / f"{digit}_{speaker}_{take}.wav", freq, 0.45, 8000)
    return folder


def test_fsdd_fbank_features_and_too_short_utterances_skipped_with_a_warning(
    small_fsdd: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tone_file(small_fsdd / "7_bob_8.wav", 300.0, 0.1, 8000)  # 1600 samples at 16 kHz: 10 frames
    with caplog.at_level(logging.WARNING, logger="unweave.data.speech"):
        train = load_fsdd(small_fsdd, "train", features="fbank", shift=20)
    check_rows(train, 20, 80)
    assert train.meta["features"] == "fbank" and train.feature_names[0].startswith("mel_")
    # takes 5, 6 of 2 speakers x 2 digits (8 utterances of 0.45 s: 43 frames, 2 segments each)
    assert train.meta["n_utterances"] == 8 and len(train) == 16
    assert train.meta["n_skipped"] == 1 and train.meta["skipped"][0].endswith("7_bob_8.wav")
    assert (
        "skipped 1 utterance(s) shorter than one segment (20 frames), e.g. 7_bob_8.wav"
        in caplog.text
    )
    test = load_fsdd(small_fsdd, "test", features="fbank", shift=20)
    assert test.meta["n_utterances"] == 8 and test.meta["n_skipped"] == 0


def test_fsdd_dbse_chunks_are_raw_stfts_of_the_zero_padded_wave_chunks(small_fsdd: Path) -> None:
    """DBSE's features (train_and_eval_timit.py:64-65, 697): the wave cut into 3200-sample
    chunks, the last zero-padded and kept, each chunk's STFT magnitudes, not normalised."""
    train = load_fsdd(small_fsdd, "train", chunk_samples=3200, shift=20, normalise=False)
    check_rows(train, 20, 201)
    # 0.45 s at 16 kHz = 7,200 samples: chunks of 3,200, 3,200 and 800 + 2,400 zeros
    assert train.meta["n_utterances"] == 8 and len(train) == 24 and train.meta["n_skipped"] == 0
    assert train.meta["chunk_samples"] == 3200 and train.meta["normalise"] is False
    wave = read_wav(train.groups["path"][0], target_rate=16000)[0]
    assert len(wave) == 7200
    chunks = [wave[:3200], wave[3200:6400], np.pad(wave[6400:], (0, 2400))]
    np.testing.assert_array_equal(wave_chunks(wave, 3200), chunks)
    expected = np.stack([stft_magnitude(chunk, **STFT) for chunk in chunks])
    np.testing.assert_allclose(train.x[:3], expected, rtol=1e-5, atol=1e-6)
    assert (train.x[2, 7:] == 0).all()  # frames centred past 800 + 160 samples see only zeros
    np.testing.assert_array_equal(train.meta["mean"], np.zeros(201))
    np.testing.assert_array_equal(train.meta["std"], np.ones(201))
    # the z-score is the loaders' default (FHVAE's), fitted on the same rows
    scored = load_fsdd(small_fsdd, "train", chunk_samples=3200, shift=20)
    np.testing.assert_allclose(
        scored.x, (train.x - scored.meta["mean"]) / scored.meta["std"], rtol=1e-4, atol=1e-4
    )
    assert scored.meta["std"].min() > 0 and scored.meta["normalise"] is True


def test_chunks_must_fill_whole_non_overlapping_segments(small_fsdd: Path) -> None:
    with pytest.raises(UnweaveError, match="gives 20 stft frames per chunk; expected segment"):
        load_fsdd(small_fsdd, chunk_samples=3200)  # FSDD's default shift is 10
    with pytest.raises(UnweaveError, match="gives 18 fbank frames per chunk"):
        load_fsdd(small_fsdd, features="fbank", chunk_samples=3200, shift=20)
    with pytest.raises(UnweaveError, match="chunk_samples 0 gives"):
        load_fsdd(small_fsdd, chunk_samples=0, shift=20)


def test_utterance_dataset_serves_every_row_of_an_utterance() -> None:
    x = np.arange(6 * 2 * 3, dtype=np.float32).reshape(6, 2, 3)
    utterance = np.array([0, 0, 0, 1, 2, 2])
    data = SeriesData(
        x=x,
        mask=np.ones(x.shape, dtype=bool),
        feature_names=["a", "b", "c"],
        name="toy",
        split="train",
        groups={"utterance": utterance},
    )
    items = UtteranceDataset(data)
    assert len(items) == 3
    np.testing.assert_array_equal(items[0]["x"].numpy(), x[:3])
    batch = UtteranceDataset.collate([items[2], items[1]])
    np.testing.assert_array_equal(batch["x"].numpy(), x[[4, 5, 3]])
    data.groups = {}
    with pytest.raises(UnweaveError, match=r"toy/train has no groups\['utterance'\]"):
        UtteranceDataset(data)


def test_fsdd_cache_follows_the_files(small_fsdd: Path) -> None:
    before = load_fsdd(small_fsdd, "test")
    tone_file(small_fsdd / "1_ann_0.wav", 500.0, 0.45, 8000)
    after = load_fsdd(small_fsdd, "test")
    assert after.meta["n_utterances"] == before.meta["n_utterances"] + 1


def test_fsdd_bad_inputs_name_the_file_or_folder(tmp_path: Path, small_fsdd: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UnweaveError, match=r"empty: no \.wav files"):
        load_fsdd(empty)
    with pytest.raises(UnweaveError, match=r"nowhere: no such folder"):
        load_fsdd(tmp_path / "nowhere")
    (small_fsdd / "7_bob_9.wav").write_text("not audio\n")
    with pytest.raises(UnweaveError, match=r"7_bob_9\.wav: not readable as audio"):
        load_fsdd(small_fsdd)
    (small_fsdd / "7_bob_9.wav").unlink()
    tone_file(small_fsdd / "seven-bob.wav", 300.0, 0.45, 8000)
    with pytest.raises(UnweaveError, match=r"seven-bob\.wav: the file name is not"):
        load_fsdd(small_fsdd)
    with pytest.raises(UnweaveError, match="Unknown speech features 'mfcc'"):
        load_fsdd(small_fsdd, features="mfcc")


# ----------------------------------------------------------------------------- FSDD strings


@pytest.fixture
def string_takes(tmp_path: Path) -> Path:
    """ann says 0-5 (takes 0, 5, 6), bob 1-4 (takes 0, 5), cat only 7-9 (takes 0, 5): 8 kHz
    tones of 0.25 s at 400 + 160 * digit Hz, STFT bin 10 + 4 * digit at 16 kHz."""
    folder = tmp_path / "fsdd" / "recordings"
    for speaker, digits, takes in (
        ("ann", range(6), (0, 5, 6)),
        ("bob", range(1, 5), (0, 5)),
        ("cat", (7, 8, 9), (0, 5)),
    ):
        for digit in digits:
            for take in takes:
                tone_file(folder / f"{digit}_{speaker}_{take}.wav", 400.0 + 160 * digit, 0.25, 8000)
    return folder


def string_rows(data: SeriesData) -> list[tuple[np.ndarray, list[str]]]:
    """Per utterance of ``data``: its rows ``(n,)`` and the stems of its takes, in order."""
    utterance = data.groups["utterance"]
    rows = [np.flatnonzero(utterance == u) for u in range(data.meta["n_utterances"])]
    return [(r, str(data.groups["path"][r[0]]).split("+")) for r in rows]


def test_fsdd_strings_join_different_digits_of_one_speaker_with_fsdds_split(
    string_takes: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="unweave.data.speech"):
        data = {s: load_fsdd_strings(string_takes.parent, s) for s in ("train", "test")}
    assert (
        "fsdd-strings test: speaker cat has takes of only 3 different digit(s) (7, 8, 9); "
        "expected 4 (words_per_utterance), so the speaker is left out." in caplog.text
    )
    for split, strings in data.items():
        check_rows(strings, 20, 201, per_segment=("digit",))
        names = strings.meta["value_names"]["speaker"]
        assert names == ["ann", "bob", "cat"]
        assert strings.meta["skipped_speakers"] == {"cat": [7, 8, 9]}
        used = []
        for rows, stems in string_rows(strings):
            digits, speakers, _ = zip(*(stem.split("_") for stem in stems), strict=True)
            assert len(stems) == 4 and len(set(digits)) == 4
            assert set(speakers) == {strings.groups["speaker_name"][rows[0]]}
            assert names[strings.static["speaker"][rows[0]]] == speakers[0]
            used += stems
        assert len(used) == len(set(used))  # every take at most once
        left = {Path(name).stem for name in strings.meta["leftover"]}
        assert len(left) == strings.meta["n_leftover"] and left.isdisjoint(used)
        fsdd = {Path(p).stem for p in load_fsdd(string_takes, split).groups["path"]}
        assert set(used) | left == {stem for stem in fsdd if "_cat_" not in stem}
    # test: ann's 6 takes -> 1 string and 2 left over, bob's 4 -> 1; train: ann 12 -> 3, bob 1
    assert [data[s].meta["n_utterances"] for s in ("train", "test")] == [4, 2]
    assert [data[s].meta["n_leftover"] for s in ("train", "test")] == [0, 2]


def test_fsdd_strings_label_each_segment_with_the_take_under_its_centre(
    string_takes: Path,
) -> None:
    data = load_fsdd_strings(string_takes, "train", normalise=False)
    pause = round(FSDD_STRING_PAUSE_SECONDS * 16000)
    assert pause == 1600
    for rows, stems in string_rows(data):
        labels = data.static["digit"][rows]
        np.testing.assert_array_equal(data.targets["digit"][rows], labels)
        waves = [read_wav(string_takes / f"{stem}.wav", target_rate=16000)[0] for stem in stems]
        _, spans = join_words(waves, pause)
        assert (spans[1:, 0] - spans[:-1, 1] == pause).all()
        words = np.column_stack([[int(stem[0]) for stem in stems], spans])
        centres = (np.arange(len(rows)) * 10 + 10) * 165  # shift 10, segment 20, hop 165
        np.testing.assert_array_equal(labels, words_at(words, centres))
        # the labels run through the takes in spoken order, each take under some centre
        runs = [int(d) for k, d in enumerate(labels) if k == 0 or d != labels[k - 1]]
        assert runs == [int(stem[0]) for stem in stems]
        # and, apart from the cut, a segment's loud middle frame is its digit's tone
        middle = np.asarray(data.x[rows, 10])
        loud = middle.max(axis=1) > 0.5 * middle.max()
        np.testing.assert_array_equal(middle[loud].argmax(axis=1), 10 + 4 * labels[loud])
        assert loud.mean() > 0.5


def test_fsdd_strings_are_fixed_by_the_seed(
    string_takes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    takes = [
        FsddTake(Path(f"{d}_{s}_{t}.wav"), d, s, t)
        for s in ("ann", "bob")
        for d in range(10)
        for t in range(5)
    ]
    first = group_takes(takes, 4, seed=3, split="test")
    assert group_takes(takes[::-1], 4, seed=3, split="test") == first
    assert group_takes(takes, 4, seed=4, split="test").strings != first.strings
    # 10 digits x 5 takes a speaker, as in FSDD's test split: 12 strings, 2 takes left over
    assert len(first.strings) == 24 and len(first.leftover) == 4 and not first.skipped
    for string in first.strings:
        assert len({t.speaker for t in string}) == 1 and len({t.digit for t in string}) == 4
    # one speaker's strings do not depend on the other speakers'
    bob = group_takes([t for t in takes if t.speaker == "bob"], 4, seed=3, split="test")
    assert bob.strings == [string for string in first.strings if string[0].speaker == "bob"]
    # loaded: the same seed gives the same strings in a fresh cache, another seed others
    monkeypatch.setenv("UNWEAVE_CACHE", str(tmp_path / "cache-a"))
    one = load_fsdd_strings(string_takes, "train", seed=1)
    monkeypatch.setenv("UNWEAVE_CACHE", str(tmp_path / "cache-b"))
    again = load_fsdd_strings(string_takes, "train", seed=1)
    np.testing.assert_array_equal(one.groups["path"], again.groups["path"])
    np.testing.assert_array_equal(one.x, again.x)
    other = load_fsdd_strings(string_takes, "train", seed=2)
    assert set(other.groups["path"]) != set(one.groups["path"])
    assert other.meta["seed"] == 2 and one.meta["words_per_utterance"] == 4


def test_fsdd_strings_bad_inputs_are_one_sentence(string_takes: Path, tmp_path: Path) -> None:
    for value, expected in (
        (0, "words_per_utterance is 0; expected a positive integer."),
        (2.5, "words_per_utterance is 2.5; expected a positive integer."),
        (True, "words_per_utterance is True; expected a positive integer."),
        (11, "words_per_utterance is 11; expected a positive integer of at most 10."),
    ):
        with pytest.raises(UnweaveError, match=expected):
            load_fsdd_strings(string_takes, words_per_utterance=value)
    with pytest.raises(UnweaveError, match=r"seed is -1; expected a non-negative integer\."):
        load_fsdd_strings(string_takes, seed=-1)
    with pytest.raises(UnweaveError, match=r"nowhere: no such folder; expected the FSDD"):
        load_fsdd_strings(tmp_path / "nowhere")
    with pytest.raises(
        UnweaveError,
        match=r"recordings: no speaker has train takes \(takes 5 and up\) of 7 different "
        r"digits \(the most: ann, with 6\); expected at least one such speaker",
    ):
        load_fsdd_strings(string_takes, words_per_utterance=7)
    five = load_fsdd_strings(string_takes, "test", words_per_utterance=5)  # ann only
    assert set(five.groups["speaker_name"]) == {"ann"} and five.meta["n_utterances"] == 1
    assert five.meta["skipped_speakers"] == {"bob": [1, 2, 3, 4], "cat": [7, 8, 9]}
    for path in string_takes.glob("*_0.wav"):
        path.unlink()
    with pytest.raises(UnweaveError, match=r"no test takes \(takes 0-4\); expected some"):
        load_fsdd_strings(string_takes)


def test_fsdd_strings_by_name_and_presets(
    string_takes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert data_modality("fsdd-strings") == "audio"
    monkeypatch.setenv("UNWEAVE_DATA", str(string_takes.parents[1]))  # root defaults to fsdd/
    test = load_data("fsdd-strings", "test", features="fbank", words_per_utterance=3)
    assert test.name == "fsdd-strings" and test.x.shape[1:] == (20, 80)
    assert all(len(stems) == 3 for _, stems in string_rows(test))
    with pytest.raises(UnweaveError, match="Did you mean 'data.options.words_per_utterance'"):
        load_data("fsdd-strings", "test", words_per_utterances=3)
    for method in ("fhvae", "dbse"):
        for preset in ("paper", "cpu"):
            options = resolve(method, "fsdd-strings", preset)["data"]["options"]
            fsdd = resolve(method, "fsdd", preset)["data"]["options"]
            assert options == {**fsdd, "words_per_utterance": 4, "seed": 0}


@pytest.mark.skipif(not FSDD.exists(), reason="fsdd not in SHARED_DATA")
def test_fsdd_strings_on_the_real_recordings() -> None:
    # 6 speakers x 10 digits; 45 train and 5 test takes of each digit: 112 and 12 strings of
    # 4 a speaker, 2 takes of each speaker left over in each split.
    for split, utterances, segments in (("train", 672, 12688), ("test", 72, 1337)):
        data = load_fsdd_strings(FSDD.parent, split, features="fbank")
        check_rows(data, 20, 80, per_segment=("digit",))
        assert data.meta["n_utterances"] == utterances and len(data) == segments
        assert data.meta["n_leftover"] == 12 and data.meta["skipped_speakers"] == {}
        starts = np.unique(data.groups["utterance"], return_index=True)[1]
        assert (np.bincount(data.static["speaker"][starts]) == utterances // 6).all()
        assert set(data.static["digit"]) == set(range(10))
        for _, stems in string_rows(data):
            assert len({stem.split("_")[0] for stem in stems}) == 4
            assert {"test" if int(stem.split("_")[2]) < 5 else "train" for stem in stems} == {split}


# ----------------------------------------------------------------------------- TIMIT


def test_timit_core_test_set_is_24_speakers_two_male_one_female_per_region() -> None:
    assert len(set(TIMIT_CORE_TEST_SPEAKERS)) == 24
    assert sorted(TIMIT_CORE_TEST) == [f"dr{k}" for k in range(1, 9)]
    for trio in TIMIT_CORE_TEST.values():
        assert sorted(s[0] for s in trio) == ["f", "m", "m"]


@pytest.fixture
def tiny_timit(tmp_path: Path) -> Path:
    """Upper-case NIST SPHERE train tree, lower-case RIFF test tree, 0.5 s tones at 16 kHz."""
    root = tmp_path / "timit"
    train = {"DR1/FCJF0": 300.0, "DR1/MDPK0": 450.0, "DR3/MREB0": 600.0}
    for folder, freq in train.items():
        for k, sentence in enumerate(("SA1", "SA2", "SI1", "SX2", "SX3")):
            tone_file(
                root / "TRAIN" / folder / f"{sentence}.WAV", freq + 20 * k, 0.5, 16000, "NIST"
            )
            (root / "TRAIN" / folder / f"{sentence}.PHN").write_text("0 8000 h#\n")
    # A converted copy next to the SPHERE file (as some distributions ship) is read once.
    tone_file(root / "TRAIN" / "DR1" / "FCJF0" / "SX2.WAV.wav", 340.0, 0.5, 16000)
    test = {"dr1/mdab0": 320.0, "dr1/felc0": 520.0, "dr1/mxyz0": 700.0, "dr7/fdhc0": 410.0}
    for folder, freq in test.items():
        for k, sentence in enumerate(("sa1", "si9", "sx9")):
            tone_file(root / "test" / folder / f"{sentence}.wav", freq + 30 * k, 0.5, 16000)
    return root


def test_timit_tree_splits_speakers_and_drops_sa(
    tiny_timit: Path, caplog: pytest.LogCaptureFixture
) -> None:
    train = load_timit(tiny_timit, "train")
    check_rows(train, 20, 201)
    assert train.meta["value_names"]["speaker"] == ["fcjf0", "mdpk0", "mreb0"]
    assert train.meta["n_utterances"] == 9  # 3 speakers x (SI1, SX2, SX3); SA1/SA2 dropped
    assert len(train) == 18  # 0.5 s = 49 frames -> two non-overlapping 20-frame segments
    paths = {Path(p).name for p in train.groups["path"]}
    assert not any(name.upper().startswith("SA") for name in paths)
    assert "SX2.WAV" in paths and "SX2.WAV.wav" not in paths
    by_speaker = dict(zip(train.groups["speaker_name"], train.static["gender"], strict=True))
    assert by_speaker == {"fcjf0": 0, "mdpk0": 1, "mreb0": 1}
    dialects = dict(zip(train.groups["speaker_name"], train.static["dialect"], strict=True))
    assert dialects == {"fcjf0": 0, "mdpk0": 0, "mreb0": 2}
    with caplog.at_level(logging.WARNING, logger="unweave.data.speech"):
        test = load_timit(tiny_timit, "test")
    assert test.meta["value_names"]["speaker"] == ["fdhc0", "felc0", "mdab0"]  # mxyz0 not core
    assert set(test.groups["speaker_name"]) == {"fdhc0", "felc0", "mdab0"}
    assert test.meta["n_utterances"] == 6
    assert len(test.meta["missing_core_speakers"]) == 21
    assert "21 of the 24 core test speakers are missing" in caplog.text
    np.testing.assert_array_equal(test.meta["mean"], train.meta["mean"])
    fbank = load_timit(tiny_timit, "test", features="fbank")
    check_rows(fbank, 20, 80)


def test_timit_bad_inputs_name_the_file_or_folder(tiny_timit: Path, tmp_path: Path) -> None:
    with pytest.raises(UnweaveError, match=r"no 'train' folder"):
        load_timit(tmp_path / "timit" / "test")
    tone_file(tiny_timit / "test" / "dr1" / "mdab0" / "sx10.wav", 300.0, 0.5, 8000)
    with pytest.raises(UnweaveError, match=r"sx10\.wav: the sample rate is 8000 Hz"):
        load_timit(tiny_timit, "test")


# ----------------------------------------------------------------------------- synthetic speech


RENDER = """
import sys, numpy as np
from unweave.data.speech import make_synthetic_speech
speech = make_synthetic_speech(2, 3, seed=int(sys.argv[1]))
np.savez(sys.argv[2], digits=speech.digits, bounds=speech.bounds, voices=np.array([repr(v) for v in speech.voices]),
         **{f"wave{i}": w for i, w in enumerate(speech.waves)})
"""


def render_in_fresh_process(seed: int, path: Path) -> dict[str, np.ndarray]:
    """``make_synthetic_speech(2, 3, seed)`` rendered by a new Python process, as saved arrays."""
    args = [sys.executable, "-c", RENDER, str(seed), str(path)]
    result = subprocess.run(args, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    with np.load(path) as saved:
        return dict(saved)


def test_synthetic_speech_is_deterministic_by_seed(tmp_path: Path) -> None:
    # Across processes libespeak-ng repeats voices and words exactly, but not every sample:
    # some renders differ slightly, and so does where the silence trimming cuts them (a few
    # samples). Waves are compared by length and by their mean log-mel spectrum. Within a
    # data set the cache, built once, keeps them fixed.
    one = render_in_fresh_process(5, tmp_path / "one.npz")
    two = render_in_fresh_process(5, tmp_path / "two.npz")
    assert list(one) == list(two)
    for key in one:
        if key.startswith("wave"):
            a, b = one[key], two[key]
            assert abs(len(a) - len(b)) < 0.01 * len(a), key
            spectra = [features_of(w, "fbank").mean(0) for w in (a, b)]
            assert np.corrcoef(*spectra)[0, 1] > 0.99, key
        elif key == "bounds":
            np.testing.assert_allclose(one[key], two[key], atol=0.01 * len(one["wave0"]))
        else:
            np.testing.assert_array_equal(one[key], two[key])
    first = make_synthetic_speech(2, 3, seed=5)
    assert first.rate == 16000 and len(first.waves) == 6
    np.testing.assert_array_equal(first.speaker, [0, 0, 0, 1, 1, 1])
    assert first.digits.shape == (6, 4) and first.bounds.shape == (6, 4, 2)
    for k in (0, 1):  # each speaker's first ten words are 0-9 once each
        assert sorted(first.digits[3 * k : 3 * k + 3].ravel()[:10]) == list(range(10))
    other = make_synthetic_speech(2, 3, seed=6)
    assert other.voices != first.voices
    assert all(0.8 < len(w) / 16000 < 4.0 for w in first.waves)


def test_synthetic_words_are_where_their_bounds_say() -> None:
    speech = make_synthetic_speech(1, 2, seed=3, words_per_utterance=3)
    pause = round(PAUSE_SECONDS * 16000)
    for wave, bounds in zip(speech.waves, speech.bounds, strict=True):
        assert bounds[0, 0] == pause and bounds[-1, 1] + pause == len(wave)
        assert (bounds[1:, 0] - bounds[:-1, 1] == pause).all()
        for start, end in bounds:  # a word is loud; the pauses between words are silent
            assert np.abs(wave[start:end]).max() > 0.05
        assert np.abs(wave[: bounds[0, 0]]).max() == 0


def test_words_at_labels_each_centre_with_the_nearest_word() -> None:
    words = np.array([[7, 100, 900], [2, 1000, 2000]])
    labels = words_at(words, np.arange(200, 1801, 200))
    np.testing.assert_array_equal(labels, [7, 7, 7, 7, 2, 2, 2, 2, 2])
    assert words_at(words, np.array([969.0]))[0] == 2  # in the pause, nearer 1000


def test_segment_centres_in_samples() -> None:
    # 4 frames of hop 165 every 2 frames; 3200-sample chunks of 20 STFT frames
    frames = Segmenting("stft", 4, 2, None, True).centres(3)
    np.testing.assert_array_equal(frames, [2 * 165, 4 * 165, 6 * 165])
    chunks = Segmenting("stft", 20, 20, 3200, False).centres(3)
    np.testing.assert_array_equal(chunks, [1600, 4800, 8000])


def test_synthetic_speech_rejects_a_bad_word_count() -> None:
    with pytest.raises(UnweaveError, match="words_per_utterance is 0; expected a positive"):
        make_synthetic_speech(1, 2, words_per_utterance=0)


def test_synthetic_speech_splits_have_disjoint_speakers() -> None:
    train = load_synthetic_speech("train", n_speakers=3, utterances_per_speaker=10, seed=1)
    test = load_synthetic_speech("test", n_speakers=3, utterances_per_speaker=10, seed=1)
    for data in (train, test):
        check_rows(data, 20, 201, per_segment=("digit",))
        assert set(data.static["speaker"]) == {0, 1, 2}
        assert set(data.static["digit"]) == set(range(10))
        # several words per utterance: the digit changes within utterances, the speaker not
        changes = np.diff(data.static["digit"])[np.diff(data.groups["utterance"]) == 0]
        assert (changes != 0).mean() > 0.1
        np.testing.assert_array_equal(data.targets["digit"], data.static["digit"])
    assert train.meta["n_utterances"] + train.meta["n_skipped"] == 30
    names = set(train.meta["value_names"]["speaker"])
    assert len(names) == 3 and names.isdisjoint(test.meta["value_names"]["speaker"])
    assert set(train.groups["speaker_name"]) == names
    assert [v.name for v in synthetic_voices(1, 3, 3)] == test.meta["value_names"]["speaker"]
    np.testing.assert_array_equal(test.meta["std"], train.meta["std"])
    # DBSE's chunks: ceil(samples / 3200) per utterance, each labelled with its centre's word
    chunked = load_synthetic_speech(
        "train", 3, 10, seed=1, chunk_samples=3200, shift=20, normalise=False
    )
    check_rows(chunked, 20, 201, per_segment=("digit",))
    speech = make_synthetic_speech(3, 10, seed=1)
    counts = np.bincount(chunked.groups["utterance"])
    np.testing.assert_array_equal(counts, [-(-len(w) // 3200) for w in speech.waves])
    first = np.column_stack([speech.digits[0], speech.bounds[0]])
    np.testing.assert_array_equal(
        chunked.static["digit"][: counts[0]], words_at(first, (np.arange(counts[0]) + 0.5) * 3200)
    )


def test_synthetic_voices_reject_a_range_outside_the_grid() -> None:
    with pytest.raises(UnweaveError, match="expected a range within 0..2879"):
        synthetic_voices(0, 2879, 2)
