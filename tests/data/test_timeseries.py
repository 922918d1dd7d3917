"""Time-series readers on the real files in SHARED_DATA, and on small malformed files."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import reader_files
from conftest import SHARED_DATA

from unweave.data.timeseries import (
    AIR_FEATURES,
    load_air_quality,
    load_etth1,
    load_physionet,
    load_series_csv,
    split_series_csv,
)
from unweave.errors import UnweaveError

ETT = SHARED_DATA / "ett" / "ETTh1.csv"
AIR = SHARED_DATA / "air-quality"
PHYSIONET = SHARED_DATA / "physionet2012"


def _train_stats(x: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = np.where(mask, x, np.nan).reshape(-1, x.shape[2])
    return np.nanmean(values, axis=0), np.nanstd(values, axis=0)


# ----------------------------------------------------------------------------- real data


@pytest.mark.skipif(not ETT.exists(), reason="ETTh1.csv not in SHARED_DATA")
def test_etth1_counts_splits_and_normalisation() -> None:
    train, valid, test = (load_etth1(ETT, s) for s in ("train", "valid", "test"))
    # 2016-07..2018-05 are full months (June 2018 stops on the 26th): 17 train-year months
    # (3 of them valid, the last 15%) and 6 test months.
    assert (len(train), len(valid), len(test)) == (14, 3, 6)
    assert train.x.shape == (14, 672, 6) and train.x.dtype == np.float32
    assert set(train.groups["year"]) == {2017, 2018} and set(valid.groups["year"]) == {2018}
    assert list(valid.groups["month"]) == [3, 4, 5]
    assert set(test.groups["year"]) == {2016}
    assert train.targets["OT"].shape == (14, 672)
    assert train.targets["OT_daily"].shape == (14, 28)
    np.testing.assert_allclose(
        train.targets["OT_daily"][:, 0], train.targets["OT"][:, :24].mean(1), rtol=1e-5
    )
    mean, std = _train_stats(train.x, train.mask)
    np.testing.assert_allclose(mean, 0, atol=1e-4)
    np.testing.assert_allclose(std, 1, atol=1e-3)
    np.testing.assert_array_equal(test.meta["mean"], train.meta["mean"])
    assert not np.allclose(_train_stats(test.x, test.mask)[0], 0, atol=0.05)
    assert train.mask.all()


@pytest.mark.skipif(not AIR.exists(), reason="air-quality not in SHARED_DATA")
def test_air_quality_counts_labels_mask() -> None:
    train, test = load_air_quality(AIR, "train"), load_air_quality(AIR, "test")
    # 48 months (2013-03..2017-02) x 12 stations, every month has >= 672 hours.
    assert train.x.shape == (432, 672, 10) and test.x.shape == (144, 672, 10)
    assert train.feature_names == AIR_FEATURES
    assert set(train.groups["year"]) == {2013, 2014, 2015, 2017}
    assert set(test.groups["year"]) == {2016}
    assert set(train.static["month"]) == set(range(12)) == set(test.static["month"])
    assert set(train.static["station"]) == set(range(12))
    assert len(train.meta["stations"]) == 12
    missing = 1 - train.mask.mean()
    assert 0.005 < missing < 0.05  # about 1.8% of cells are "NA"
    assert (train.x[~train.mask] == 0).all()
    mean, std = _train_stats(train.x, train.mask)
    np.testing.assert_allclose(mean, 0, atol=1e-3)
    np.testing.assert_allclose(std, 1, atol=1e-3)


@pytest.fixture(scope="module")
def physionet(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if not PHYSIONET.exists():
        pytest.skip("physionet2012 not in SHARED_DATA")
    mp = pytest.MonkeyPatch()
    mp.setenv("UNWEAVE_CACHE", str(tmp_path_factory.mktemp("physionet-cache")))
    start = time.perf_counter()
    train = load_physionet(PHYSIONET, "train")
    first = time.perf_counter() - start
    start = time.perf_counter()
    test = load_physionet(PHYSIONET, "test")
    second = time.perf_counter() - start
    mp.undo()
    return {"train": train, "test": test, "first": first, "second": second}


def test_physionet_shapes_mask_and_labels(physionet: dict) -> None:
    train, test = physionet["train"], physionet["test"]
    # 4,000 set-a records, 2,213 dropped by the 40-hour / 60%-missing filter.
    assert train.meta["n_records"] == 4000 and train.meta["n_dropped"] == 2213
    assert train.x.shape == (1444, 80, 10) and test.x.shape == (343, 80, 10)
    assert 0.6 < 1 - train.mask.mean() < 0.9  # mostly missing (about 73% with the padding)
    assert not train.mask[:, 60:].any()  # stays are about 48 h: the tail is padding
    assert set(train.static["icu_type"]) == {0, 1, 2, 3}
    assert set(np.unique(train.targets["in_hospital_death"])) == {0, 1}
    assert train.groups["record_id"].min() > test.groups["record_id"].max()
    mean, std = _train_stats(train.x, train.mask)
    np.testing.assert_allclose(mean, 0, atol=1e-3)
    np.testing.assert_allclose(std, 1, atol=1e-3)


def test_physionet_second_load_uses_cache(physionet: dict) -> None:
    assert physionet["second"] < 1.0
    assert physionet["second"] < physionet["first"]


# ----------------------------------------------------------------------------- bad files


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


ETT_HEAD = "date,HUFL,HULL,MUFL,MULL,LUFL,LULL,OT\n"
ETT_ROW = "2016-07-01 00:00:00,1,2,3,4,5,6,7\n"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("", 1, "empty"),
        ("date,HUFL,HULL,MUFL,MULL,LUFL,LULL\n" + ETT_ROW, 1, "OT"),
        (ETT_HEAD + ETT_ROW + "2016-07-01 01:00:00,1,x2,3,4,5,6,7\n", 3, "number"),
        (ETT_HEAD + ETT_ROW + "2016-13-01 01:00:00,1,2,3,4,5,6,7\n", 3, "YYYY-MM-DD"),
    ],
)
def test_etth1_bad_files(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = _write(tmp_path / "bad_ett.csv", text)
    with pytest.raises(UnweaveError, match=rf"bad_ett\.csv, line {line}:.*{words}"):
        load_etth1(path, "train")


AIR_HEAD = "No,year,month,day,hour,PM2.5,PM10,SO2,NO2,CO,O3,TEMP,PRES,DEWP,RAIN,wd,WSPM,station\n"
AIR_ROW = "1,2013,3,1,0,4,4,4,7,300,77,-0.7,1023,-18.8,0,NNW,4.4,Test\n"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("", 1, "empty"),
        (AIR_HEAD.replace(",SO2", "") + AIR_ROW.replace(",4,7,", ",7,"), 1, "SO2"),
        (AIR_HEAD + AIR_ROW + AIR_ROW.replace(",77,", ",abc,"), 3, "O3.*number"),
        (AIR_HEAD + AIR_ROW + AIR_ROW.replace(",3,1,0,", ",13,1,0,"), 3, "month"),
        (AIR_HEAD + AIR_ROW + AIR_ROW.replace(",2013,", ",20x3,"), 3, "year.*integer"),
    ],
)
def test_air_quality_bad_files(tmp_path: Path, text: str, line: int, words: str) -> None:
    name = "PRSA_Data_Test_20130301-20170228.csv"
    _write(tmp_path / name, text)
    with pytest.raises(UnweaveError, match=rf"{name}, line {line}:.*{words}"):
        load_air_quality(tmp_path, "train")


def test_air_quality_na_is_masked_not_an_error(tmp_path: Path) -> None:
    rows = [AIR_ROW.replace(",1,0,", f",{1 + h // 24},{h % 24},") for h in range(672)]
    rows[5] = rows[5].replace(",77,", ",NA,")
    _write(tmp_path / "PRSA_Data_Test_20130301-20170228.csv", AIR_HEAD + "".join(rows))
    data = load_air_quality(tmp_path, "train")
    assert data.x.shape == (1, 672, 10)
    assert not data.mask[0, 5, AIR_FEATURES.index("O3")] and data.mask.sum() == 672 * 10 - 1


PN_HEAD = "Time,Parameter,Value\n00:00,RecordID,1\n00:00,ICUType,2\n"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("", 1, "empty"),
        ("Time,Param,Value\n00:00,RecordID,1\n", 1, "Time,Parameter,Value"),
        (PN_HEAD + "00:07,GCS,abc\n", 4, "number"),
        (PN_HEAD + "0x:07,GCS,15\n", 4, "HH:MM"),
        (PN_HEAD + "00:07,GCS\n", 4, "Time,Parameter,Value"),
    ],
)
def test_physionet_bad_files(
    tmp_path: Path, fresh_cache: Path, text: str, line: int, words: str
) -> None:
    (tmp_path / "set-a").mkdir()
    _write(tmp_path / "Outcomes-a.txt", "RecordID,SAPS-I,In-hospital_death\n1,5,0\n")
    _write(tmp_path / "set-a" / "1.txt", text)
    with pytest.raises(UnweaveError, match=rf"1\.txt, line {line}:.*{words}"):
        load_physionet(tmp_path, "train")


def test_physionet_bad_outcomes(tmp_path: Path, fresh_cache: Path) -> None:
    (tmp_path / "set-a").mkdir()
    _write(tmp_path / "Outcomes-a.txt", "RecordID,SAPS-I,In-hospital_death\n1,5,yes\n")
    _write(tmp_path / "set-a" / "1.txt", PN_HEAD)
    with pytest.raises(UnweaveError, match=r"Outcomes-a\.txt, line 2:.*In-hospital_death"):
        load_physionet(tmp_path, "train")


def test_series_csv_groups_orders_and_masks(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "mine.csv",
        "id,t,a,b\nu,2,2.0,\nu,1,1.0,10\nv,1,5,NA\nu,3,3,30\n",
    )
    data = load_series_csv(path, "t", ["a", "b"], "id")
    assert data.x.shape == (2, 3, 2)
    np.testing.assert_array_equal(data.x[0, :, 0], [1, 2, 3])
    np.testing.assert_array_equal(data.mask[0, :, 1], [True, False, True])
    np.testing.assert_array_equal(data.mask[1, :, 0], [True, False, False])
    windows = load_series_csv(path, "t", ["a", "b"], "id", window=2)
    assert windows.x.shape == (1, 2, 2) and list(windows.groups["group"]) == ["u"]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("", 1, "empty"),
        ("id,t,a\nu,1,2\n", 1, "b"),
        ("id,t,a,b\nu,1,2,3\nu,2,two,3\n", 3, "a.*number"),
        ("id,t,a,b\nu,1,2,3\nu,,2,3\n", 3, "t.*time"),
    ],
)
def test_series_csv_bad_files(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = _write(tmp_path / "mine.csv", text)
    with pytest.raises(UnweaveError, match=rf"mine\.csv, line {line}:.*{words}"):
        load_series_csv(path, "t", ["a", "b"], "id")


def test_series_csv_splits_are_disjoint_and_normalised_on_train(tmp_path: Path) -> None:
    rows = [f"g{g},{t},{g * 10 + t},{t}" for g in range(10) for t in range(4)]
    path = _write(tmp_path / "mine.csv", "\n".join(["id,t,a,b", *rows]) + "\n")
    columns = {"time_column": "t", "feature_columns": ["a", "b"], "group_column": "id"}
    train = split_series_csv(path, "train", **columns, test_fraction=0.3, seed=1)
    test = split_series_csv(path, "test", **columns, test_fraction=0.3, seed=1)
    assert (len(train), len(test)) == (7, 3)
    assert not set(train.groups["group"]) & set(test.groups["group"])
    observed = train.x[train.mask].reshape(-1, 2)
    np.testing.assert_allclose(observed.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(observed.std(axis=0), 1.0, atol=1e-5)
    raw_a = test.x[:, :, 0] * train.meta["std"][0] + train.meta["mean"][0]
    first = [int(g[1:]) * 10 for g in test.groups["group"]]
    np.testing.assert_allclose(raw_a[:, 0], first, atol=1e-4)
    with pytest.raises(UnweaveError, match="test_fraction is 1.5"):
        split_series_csv(path, "train", **columns, test_fraction=1.5)
    with pytest.raises(UnweaveError, match="10 sequences cannot be split"):
        split_series_csv(path, "train", **columns, test_fraction=0.01)


# ----------------------------------------------------------------------------- encodings


def _read_ett(root: Path, text: bytes) -> object:
    (root / "ETTh1.csv").write_bytes(text)
    return load_etth1(root / "ETTh1.csv", "train")


def _read_air(root: Path, text: bytes) -> object:
    (root / reader_files.AIR_NAME).write_bytes(text)
    return load_air_quality(root, "train")


def _read_record(root: Path, text: bytes) -> object:
    ids = reader_files.write_physionet(root)
    (root / "set-a" / f"{ids[0]}.txt").write_bytes(text)
    return load_physionet(root, "train")


def _read_outcomes(root: Path, text: bytes) -> object:
    reader_files.write_physionet(root)
    (root / "Outcomes-a.txt").write_bytes(text)
    return load_physionet(root, "train")


def _read_series(root: Path, text: bytes) -> object:
    (root / "mine.csv").write_bytes(text)
    return load_series_csv(root / "mine.csv", "t", ["a", "b"], "site")


#: reader -> (its good text, the file it reads, a line to damage with a non-ASCII cell)
TEXT_READERS = {
    "ett": (_read_ett, reader_files.ett_text, "ETTh1.csv"),
    "air-quality": (_read_air, reader_files.air_text, reader_files.AIR_NAME),
    "physionet-record": (
        _read_record,
        lambda: reader_files.physionet_record(132539),
        "132539.txt",
    ),
    "physionet-outcomes": (
        _read_outcomes,
        lambda: reader_files.outcomes_text([132539 + i for i in range(5)]),
        "Outcomes-a.txt",
    ),
    "series-csv": (_read_series, reader_files.series_text, "mine.csv"),
}


@pytest.mark.parametrize("reader", list(TEXT_READERS))
@pytest.mark.parametrize("encoding", ["utf-16", "latin-1", "binary"])
def test_readers_refuse_files_that_are_not_utf8(
    tmp_path: Path, fresh_cache: Path, reader: str, encoding: str
) -> None:
    read, text, name = TEXT_READERS[reader]
    lines = text().splitlines(keepends=True)
    lines[2] = lines[2].replace(",", ",é", 1)  # one Latin-1 byte on line 3
    binary = bytes(range(256)) * 8
    data = binary if encoding == "binary" else "".join(lines).encode(encoding)
    where = rf"{name}, line 3: byte 0xe9" if encoding == "latin-1" else rf"{name}"
    what = "UTF-16" if encoding == "utf-16" else "not UTF-8"
    with pytest.raises(UnweaveError, match=rf"{where}.*{what}"):
        read(tmp_path, data)
    assert not [p for p in fresh_cache.glob("*/*") if not (p / "COMPLETE").exists()]


@pytest.mark.parametrize("reader", list(TEXT_READERS))
def test_readers_accept_a_utf8_byte_order_mark(
    tmp_path: Path, fresh_cache: Path, reader: str
) -> None:
    read, text, _ = TEXT_READERS[reader]
    (tmp_path / "plain").mkdir()
    (tmp_path / "bom").mkdir()
    plain = read(tmp_path / "plain", text().encode("utf-8"))
    with_bom = read(tmp_path / "bom", text().encode("utf-8-sig"))
    np.testing.assert_array_equal(with_bom.x, plain.x)
    np.testing.assert_array_equal(with_bom.mask, plain.mask)


# ----------------------------------------------------------------------------- bad values


def test_air_quality_without_a_whole_month_is_one_sentence(tmp_path: Path) -> None:
    text = reader_files.air_text()
    _write(tmp_path / reader_files.AIR_NAME, "".join(text.splitlines(keepends=True)[:500]))
    with pytest.raises(UnweaveError, match=r"no \(year, month, station\).*672 hourly rows"):
        load_air_quality(tmp_path, "train")


@pytest.mark.parametrize("cell", ["inf", "-inf", "Infinity", "1e400", "NaN"])
def test_etth1_refuses_a_cell_that_is_not_a_finite_number(tmp_path: Path, cell: str) -> None:
    lines = reader_files.ett_text().splitlines(keepends=True)
    cells = lines[9].split(",")
    cells[3] = cell  # MUFL
    lines[9] = ",".join(cells)
    path = _write(tmp_path / "ETTh1.csv", "".join(lines))
    with pytest.raises(UnweaveError, match=rf"ETTh1\.csv, line 10: column MUFL has '{cell}'"):
        load_etth1(path, "train")


def test_etth1_refuses_a_repeated_date(tmp_path: Path) -> None:
    lines = reader_files.ett_text().splitlines(keepends=True)
    lines[5] = lines[4]
    path = _write(tmp_path / "ETTh1.csv", "".join(lines))
    with pytest.raises(UnweaveError, match=r"line 6: date 2016-07-01 03:00:00 is also on line 5"):
        load_etth1(path, "train")


def test_series_csv_refuses_a_repeated_time_in_a_group(tmp_path: Path) -> None:
    path = _write(tmp_path / "mine.csv", "site,t,a,b\nu,1,1,2\nv,1,1,2\nu,1.0,3,4\n")
    with pytest.raises(
        UnweaveError, match=r"mine\.csv, line 4: group 'u' has time '1\.0' again \(also on line 2\)"
    ):
        load_series_csv(path, "t", ["a", "b"], "site")


@pytest.mark.parametrize("cell", ["inf", "1e400", "-1e39"])
def test_series_csv_refuses_infinite_values(tmp_path: Path, cell: str) -> None:
    path = _write(tmp_path / "mine.csv", f"site,t,a,b\nu,1,1,2\nu,2,{cell},4\n")
    with pytest.raises(UnweaveError, match=rf"line 3: column a has '{cell}'; expected a finite"):
        load_series_csv(path, "t", ["a", "b"], "site")


def test_series_csv_warns_when_a_feature_has_no_value(tmp_path: Path) -> None:
    path = _write(tmp_path / "mine.csv", "site,t,a,b\nu,1,1,\nu,2,3,NA\nv,1,2,\n")
    with pytest.warns(UserWarning, match=r"mine\.csv: feature b has no value in any row"):
        data = load_series_csv(path, "t", ["a", "b"], "site")
    assert not data.mask[..., 1].any() and data.mask[0, :, 0].all()


@pytest.mark.parametrize(
    ("columns", "window", "words"),
    [
        (["a", "a"], None, "feature column a is named twice"),
        ([], None, "feature_columns is empty"),
        ("ab", None, "feature_columns is 'ab'; expected a list"),
        (["a"], 1.5, "window is 1.5; expected a positive integer"),
    ],
)
def test_series_csv_refuses_bad_column_options(
    tmp_path: Path, columns: object, window: object, words: str
) -> None:
    path = _write(tmp_path / "mine.csv", reader_files.series_text())
    with pytest.raises(UnweaveError, match=words):
        load_series_csv(path, "t", columns, "site", window)


def test_series_csv_reads_static_and_dynamic_label_columns(tmp_path: Path) -> None:
    text = (
        "id,t,a,who,phase\n"
        "u,2,2.0,bob,run\nu,1,1.0,bob,walk\nu,3,3,NA,run\n"
        "v,1,5,10,walk\nv,2,6,10,\n"
        "w,1,7,,run\n"
    )
    path = _write(tmp_path / "mine.csv", text)
    labels = {"static_labels": ["who"], "dynamic_labels": ["phase"]}
    data = load_series_csv(path, "t", ["a"], "id", **labels)
    assert data.meta["value_names"] == {"who": ["10", "bob"], "phase": ["run", "walk"]}
    np.testing.assert_array_equal(data.static["who"], [1, 0, -1])  # w: never given
    np.testing.assert_array_equal(data.dynamic["phase"], [[1, 0, 0], [1, -1, -1], [0, -1, -1]])
    windows = load_series_csv(path, "t", ["a"], "id", window=1, **labels)
    np.testing.assert_array_equal(windows.static["who"], [1, 1, -1, 0, 0, -1])
    rows = [f"g{g},{t},{t},{g % 2},{t % 2}" for g in range(10) for t in range(4)]
    path = _write(tmp_path / "split.csv", "\n".join(["id,t,a,who,phase", *rows]) + "\n")
    columns = {"time_column": "t", "feature_columns": ["a"], "group_column": "id", **labels}
    test = split_series_csv(path, "test", **columns, test_fraction=0.3, seed=1)
    parity = [int(g[1:]) % 2 for g in test.groups["group"]]
    np.testing.assert_array_equal(test.static["who"], parity)
    assert test.dynamic["phase"].shape == (3, 4) and test.x.shape[2] == 1


@pytest.mark.parametrize(
    ("labels", "words"),
    [
        (
            {"static_labels": ["who"]},
            r"mine\.csv, line 3: static label who of group 'u' is 'ann' after 'bob' on line 2; "
            r"expected one value per sequence",
        ),
        ({"static_labels": "who"}, r"data\.options\.static_labels is 'who'; expected a list"),
        ({"dynamic_labels": [1]}, r"data\.options\.dynamic_labels is \[1\]; expected a list"),
        ({"static_labels": ["a"]}, r"Column a is both a feature and a label"),
        (
            {"static_labels": ["who"], "dynamic_labels": ["who"]},
            r"Label column who is named twice",
        ),
        ({"dynamic_labels": ["phase"]}, r"mine\.csv, line 1: missing column\(s\) phase"),
    ],
)
def test_series_csv_refuses_bad_label_columns(tmp_path: Path, labels: dict, words: str) -> None:
    path = _write(tmp_path / "mine.csv", "id,t,a,who\nu,1,1,bob\nu,2,2,ann\n")
    with pytest.raises(UnweaveError, match=words):
        load_series_csv(path, "t", ["a"], "id", **labels)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("00:00,ICUType,7", r"ICUType is 7; expected 1, 2, 3 or 4"),
        ("03:10,GCS,inf", r"column Value has 'inf'; expected a finite number"),
        ("²:10,GCS,3", r"time '²:10' is not a time"),
    ],
)
def test_physionet_refuses_bad_record_values(
    tmp_path: Path, fresh_cache: Path, line: str, words: str
) -> None:
    ids = reader_files.write_physionet(tmp_path)
    record = tmp_path / "set-a" / f"{ids[2]}.txt"
    record.write_text(record.read_text() + line + "\n")
    with pytest.raises(UnweaveError, match=rf"{ids[2]}\.txt, line \d+: {words}"):
        load_physionet(tmp_path, "train")
    assert not [p for p in fresh_cache.glob("*/*") if not (p / "COMPLETE").exists()]


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ("132540,1,1,1,1,3", r"line 7: In-hospital_death is 3; expected 0 or 1"),
        ("132540,1,1,1,1,0", r"line 7: RecordID 132540 is also on line 3"),
    ],
)
def test_physionet_refuses_bad_outcomes(
    tmp_path: Path, fresh_cache: Path, row: str, words: str
) -> None:
    reader_files.write_physionet(tmp_path)
    outcomes = tmp_path / "Outcomes-a.txt"
    outcomes.write_text(outcomes.read_text() + row + "\n")
    with pytest.raises(UnweaveError, match=rf"Outcomes-a\.txt, {words}"):
        load_physionet(tmp_path, "train")


def test_physionet_reads_outcomes_again_when_they_change(tmp_path: Path, fresh_cache: Path) -> None:
    ids = reader_files.write_physionet(tmp_path)
    before = load_physionet(tmp_path, "train")
    outcomes = tmp_path / "Outcomes-a.txt"
    outcomes.write_text(
        outcomes.read_text().replace(f"{ids[1]},10,5,7,-1,1", f"{ids[1]},10,5,7,-1,0")
    )
    after = load_physionet(tmp_path, "train")
    assert before.targets["in_hospital_death"].sum() == 2
    assert after.targets["in_hospital_death"].sum() == 1


@pytest.mark.parametrize(
    ("reader", "words"),
    [
        ("ett-train", r"the 'train' split is empty \(it holds the 2017-2018 months"),
        ("ett-test", r"the 'test' split is empty \(it holds the 2016 months"),
        ("air-test", r"the 'test' split is empty \(it holds the \(year, month, station\)"),
        ("physionet", r"the 'train' split is empty \(it holds the records with 40 observed"),
    ],
)
def test_loaders_refuse_an_empty_split(
    tmp_path: Path, fresh_cache: Path, reader: str, words: str
) -> None:
    if reader.startswith("ett"):
        months = ((2016, 7),) if reader == "ett-train" else ((2017, 1),)
        path = _write(tmp_path / "ETTh1.csv", reader_files.ett_text(months))
        call = lambda: load_etth1(path, reader.split("-")[1])  # noqa: E731
    elif reader == "air-test":
        _write(tmp_path / reader_files.AIR_NAME, reader_files.air_text(((2013, 3),)))
        call = lambda: load_air_quality(tmp_path, "test")  # noqa: E731
    else:
        ids = reader_files.write_physionet(tmp_path)
        for rid in ids:
            _write(tmp_path / "set-a" / f"{rid}.txt", reader_files.physionet_record(rid, hours=20))
        call = lambda: load_physionet(tmp_path, "train")  # noqa: E731
    with pytest.raises(UnweaveError, match=words):
        call()
