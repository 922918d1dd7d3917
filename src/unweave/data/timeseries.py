"""Multivariate time series with missing values: the ``SeriesData`` container and its readers.

Readers take the raw files as published (ETTh1/ETTh2, UCI Beijing Air Quality, PhysioNet
2012 set-a/set-b) or a user's own CSV, as UTF-8 text (a byte-order mark is skipped). Every
malformed file or row raises :class:`~unweave.errors.UnweaveError` naming the file, the line
and what was expected: another encoding, a cell that is not a finite number within the
float32 range, a repeated time, an empty split. A feature never observed is a warning.
"""

from __future__ import annotations

import csv
import math
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

import numpy as np
import torch

from unweave.data.cache import cached_build, file_fingerprint
from unweave.errors import UnweaveError

SPLITS = ("train", "valid", "test")
ETT_FEATURES = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL"]
ETT_COLUMNS = ["date", *ETT_FEATURES, "OT"]
AIR_FEATURES = ["PM2.5", "PM10", "SO2", "NO2", "CO", "O3", "TEMP", "PRES", "DEWP", "WSPM"]
PHYSIONET_FEATURES = [
    "DiasABP",
    "GCS",
    "HCT",
    "MAP",
    "NIDiasABP",
    "NIMAP",
    "NISysABP",
    "RespRate",
    "SysABP",
    "Temp",
]
PHYSIONET_DESCRIPTORS = ["Age", "Gender", "Height", "ICUType", "Weight"]
SEQ_LEN = 672  # 28 days of hourly rows (ETT, Air Quality)
PHYSIONET_LEN = 80
MISSING_TOKENS = {"", "NA", "NaN", "nan", "N/A"}
FLOAT32_MAX = float(np.finfo(np.float32).max)  # values are stored as float32
RECORD_ID = re.compile(r"\d{1,18}", re.ASCII)  # fits int64
PHYSIONET_TIME = re.compile(r"(\d+):([0-5]\d)", re.ASCII)


@dataclass
class SeriesData:
    """One split of a multivariate time-series data set.

    Attributes:
        x: ``(N, T, F)`` float32 values (normalised by the loaders; 0 where unobserved).
        mask: ``(N, T, F)`` bool, True where the value was observed.
        feature_names: the ``F`` feature names.
        static: factor name -> ``(N,)`` int64 labels of what stays fixed in a sequence
            (-1: unknown).
        dynamic: factor name -> ``(N, T)`` int64 labels of each step (-1: unknown or padding).
        targets: name -> ``(N,)`` or ``(N, ...)`` downstream labels (e.g. OT, death).
        groups: name -> ``(N,)`` per-sample identifiers or covariates (year, station, age...).
        meta: anything else: normalisation ``mean``/``std`` ``(F,)``, value names, sources.
        name: data set name, e.g. ``"etth1"``.
        split: ``"train"``, ``"valid"`` or ``"test"``.
    """

    x: np.ndarray
    mask: np.ndarray
    feature_names: list[str]
    name: str
    split: str
    static: dict[str, np.ndarray] = field(default_factory=dict)
    dynamic: dict[str, np.ndarray] = field(default_factory=dict)
    targets: dict[str, np.ndarray] = field(default_factory=dict)
    groups: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"{self.name}/{self.split}"
        if self.x.ndim != 3:
            raise UnweaveError(f"{where}: x has shape {self.x.shape}; expected (N, T, F).")
        if self.mask.shape != self.x.shape:
            raise UnweaveError(
                f"{where}: mask has shape {self.mask.shape}; expected {self.x.shape} like x."
            )
        if len(self.feature_names) != self.x.shape[2]:
            raise UnweaveError(
                f"{where}: {len(self.feature_names)} feature names for {self.x.shape[2]} features."
            )
        n = len(self.x)
        for kind, arrays in (("static", self.static), ("targets", self.targets)):
            for key, values in arrays.items():
                if len(values) != n:
                    raise UnweaveError(
                        f"{where}: {kind} '{key}' has {len(values)} rows; expected {n} like x."
                    )
        for key, values in self.dynamic.items():
            if values.shape != self.x.shape[:2]:
                raise UnweaveError(
                    f"{where}: dynamic '{key}' has shape {values.shape}; expected "
                    f"{self.x.shape[:2]}, one label per step of x."
                )

    def __len__(self) -> int:
        return len(self.x)

    @property
    def seq_len(self) -> int:
        return int(self.x.shape[1])

    @property
    def n_features(self) -> int:
        return int(self.x.shape[2])


class SeriesTorchDataset(torch.utils.data.Dataset):
    """Serves ``{"x": float32 (T, F), "mask": bool (T, F), "index": int}`` per series.

    Segments cut from longer recordings (``groups["utterance"]``) also carry
    ``"sequence"``: the index of the recording they came from (FHVAE's sequence label).
    """

    def __init__(self, data: SeriesData) -> None:
        x = np.ascontiguousarray(data.x, dtype=np.float32)
        self.x = torch.from_numpy(x if x.flags.writeable else x.copy())  # memmaps are read-only
        self.mask = torch.from_numpy(np.ascontiguousarray(data.mask, dtype=bool))
        utterance = data.groups.get("utterance")
        self.sequence = None if utterance is None else torch.from_numpy(utterance.astype(np.int64))

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = {"x": self.x[index], "mask": self.mask[index], "index": torch.tensor(index)}
        if self.sequence is not None:
            item["sequence"] = self.sequence[index]
        return item


# --------------------------------------------------------------------------- helpers


def _check_split(split: str, allowed: tuple[str, ...] = SPLITS) -> None:
    if split not in allowed:
        raise UnweaveError(f"Unknown split '{split}'; expected one of: {', '.join(allowed)}.")


def _shown(text: str, limit: int = 40) -> str:
    """``text`` for a message: control characters escaped, cut to ``limit`` characters."""
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _not_utf8(path: Path) -> UnweaveError:
    """The error for a file that does not decode as UTF-8, naming the first bad line and byte."""
    with open(path, "rb") as handle:
        if handle.read(2) in (b"\xff\xfe", b"\xfe\xff"):
            return UnweaveError(
                f"{path}: the file is UTF-16 text; expected UTF-8 (save it again as UTF-8)."
            )
        handle.seek(0)
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                return UnweaveError(
                    f"{path}, line {number}: byte 0x{raw[error.start]:02x} is not UTF-8 text; "
                    "expected a UTF-8 text file (not a binary file, nor Latin-1 or UTF-16 text)."
                )
    return UnweaveError(f"{path}: the file is not UTF-8 text; expected a UTF-8 text file.")


@contextmanager
def _utf8_text(path: Path) -> Iterator[TextIO]:
    """Open ``path`` as UTF-8 text (a byte-order mark is skipped); a file in another encoding,
    or one that cannot be read, raises UnweaveError naming it."""
    if not path.is_file():
        raise UnweaveError(f"{path}: file not found.")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            yield handle
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except OSError as error:
        raise UnweaveError(
            f"{path}: cannot be read ({error.strerror or error}); expected a readable file."
        ) from None


def _rows(path: Path, required: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line number, row dict)`` for a UTF-8 CSV file after checking its header."""
    with _utf8_text(path) as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise UnweaveError(
                    f"{path}, line 1: the file is empty; "
                    f"expected a header with {', '.join(required)}."
                )
            if any("\0" in cell for cell in header):
                raise UnweaveError(
                    f"{path}, line 1: the header holds NUL bytes; expected UTF-8 text "
                    "(not a binary file, nor UTF-16 text)."
                )
            header = [h.strip() for h in header]
            missing = [c for c in required if c not in header]
            if missing:
                raise UnweaveError(
                    f"{path}, line 1: missing column(s) {', '.join(missing)}; "
                    f"expected a header with {', '.join(required)}."
                )
            index = {c: header.index(c) for c in required}
            for row in reader:
                if not row or all(not cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise UnweaveError(
                        f"{path}, line {reader.line_num}: {len(row)} fields; "
                        f"expected {len(header)} like the header."
                    )
                yield reader.line_num, {c: row[i].strip() for c, i in index.items()}
        except csv.Error as error:
            raise UnweaveError(
                f"{path}, line {reader.line_num}: {error}; expected a CSV row."
            ) from None


def _number(text: str, path: Path, line: int, column: str, allow_missing: bool) -> float:
    """Parse one cell as a finite float32-sized number; missing tokens give NaN when
    ``allow_missing``."""
    if text in MISSING_TOKENS and allow_missing:
        return math.nan
    if not text:
        raise UnweaveError(f"{path}, line {line}: column {column} is empty; expected a number.")
    try:
        value = float(text)
    except ValueError:
        raise UnweaveError(
            f"{path}, line {line}: column {column} has '{_shown(text)}'; expected a number."
        ) from None
    if math.isnan(value):
        if allow_missing:
            return math.nan
        raise UnweaveError(
            f"{path}, line {line}: column {column} has '{_shown(text)}' (not a number); "
            "expected a number."
        )
    if not abs(value) <= FLOAT32_MAX:
        raise UnweaveError(
            f"{path}, line {line}: column {column} has '{_shown(text)}'; expected a finite "
            f"number of at most {FLOAT32_MAX:.3g} in size (values are stored as float32)."
        )
    return value


def _integer(text: str, path: Path, line: int, column: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UnweaveError(
            f"{path}, line {line}: column {column} has '{_shown(text)}'; expected an integer."
        ) from None


def _warn_unobserved(where: str, names: list[str], mask: np.ndarray, what: str) -> None:
    """Warn once per feature of ``mask (..., F)`` that is never observed."""
    observed = mask.reshape(-1, mask.shape[-1]).any(axis=0)
    for name, seen in zip(names, observed, strict=True):
        if not seen:
            warnings.warn(
                f"{where}: feature {name} has no value {what}, so the model never sees it "
                "(its mask is False there).",
                stacklevel=3,
            )


def _check_not_empty(where: str, rows: np.ndarray, split: str, what: str) -> None:
    """Refuse an empty split with one sentence saying what it would hold."""
    if len(rows) == 0:
        raise UnweaveError(
            f"{where}: the '{split}' split is empty (it holds {what}); expected at least one "
            "sample in it."
        )


def _zscore(
    x: np.ndarray, mask: np.ndarray, fit: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalise ``x (N, T, F)`` with mean/std ``(F,)`` of the observed values of rows ``fit``.

    Returns the normalised float32 array (0 where unobserved), mean and std.
    """
    values = np.where(mask[fit], x[fit], np.nan).reshape(-1, x.shape[2])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # unobserved features: _warn_unobserved
        mean = np.nanmean(values, axis=0)
        std = np.nanstd(values, axis=0)
    mean = np.nan_to_num(mean, nan=0.0)
    std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
    out = np.where(mask, (x - mean) / std, 0.0).astype(np.float32)
    return out, mean.astype(np.float32), std.astype(np.float32)


# --------------------------------------------------------------------------- ETT


def load_etth1(root: str | Path, split: str = "train") -> SeriesData:
    """ETTh1 from ``root`` (``ETTh1.csv`` or a folder holding it): :func:`load_ett`."""
    return load_ett(_in_folder(root, "ETTh1.csv"), split)


def load_etth2(root: str | Path, split: str = "train") -> SeriesData:
    """ETTh2 from ``root`` (``ETTh2.csv`` or a folder holding it): :func:`load_ett`."""
    return load_ett(_in_folder(root, "ETTh2.csv"), split)


def _in_folder(root: str | Path, name: str) -> Path:
    """``root/name`` when ``root`` is a folder, else ``root``."""
    root = Path(root)
    return root / name if root.is_dir() else root


def load_ett(path: Path, split: str = "train") -> SeriesData:
    """An ETT CSV (ETTh1/ETTh2) as (year, month) samples of 672 hours: x ``(N, 672, 6)``.

    Samples are the calendar months with at least 672 hourly rows, truncated to their first
    672 rows. Train = years 2017-2018 (the last 15% of those samples, rounded, are
    ``"valid"``), test = 2016. The 6 load features are z-scored with the mean/std of the
    ``"train"`` samples only (``meta["mean"]``, ``meta["std"]``). Targets: ``"OT"`` ``(N, 672)``
    in raw units and ``"OT_daily"`` ``(N, 28)``, the mean of each 24-hour window. A repeated
    date, a missing or infinite cell and an empty split (or training split) are errors.
    """
    _check_split(split)
    path = Path(path)
    months: dict[tuple[int, int], list[list[float]]] = {}
    seen: dict[datetime, int] = {}
    for line, row in _rows(path, ETT_COLUMNS):
        try:
            stamp = datetime.strptime(row["date"], "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise UnweaveError(
                f"{path}, line {line}: date '{_shown(row['date'])}' is not a date; "
                "expected YYYY-MM-DD HH:MM:SS."
            ) from None
        if stamp in seen:
            raise UnweaveError(
                f"{path}, line {line}: date {stamp} is also on line {seen[stamp]}; "
                "expected one row per hour."
            )
        seen[stamp] = line
        values = [_number(row[c], path, line, c, False) for c in ETT_COLUMNS[1:]]
        months.setdefault((stamp.year, stamp.month), []).append(values)
    keys = sorted(k for k, rows in months.items() if len(rows) >= SEQ_LEN)
    if not keys:
        raise UnweaveError(f"{path}: no calendar month has {SEQ_LEN} hourly rows; expected some.")
    data = np.array([months[k][:SEQ_LEN] for k in keys], dtype=np.float64)  # (M, 672, 7)
    years = np.array([k[0] for k in keys])
    train_all = np.flatnonzero(np.isin(years, (2017, 2018)))
    n_valid = int(round(0.15 * len(train_all)))
    parts = {
        "train": train_all[: len(train_all) - n_valid],
        "valid": train_all[len(train_all) - n_valid :],
        "test": np.flatnonzero(years == 2016),
    }
    holds = {
        "train": "the 2017-2018 months but the last 15%",
        "valid": "the last 15% of the 2017-2018 months",
        "test": "the 2016 months",
    }
    months_with = f"of those with {SEQ_LEN} hourly rows"
    _check_not_empty(str(path), parts["train"], "train", f"{holds['train']} {months_with}")
    _check_not_empty(str(path), parts[split], split, f"{holds[split]} {months_with}")
    x_all = data[..., :6]
    mask_all = np.ones(x_all.shape, dtype=bool)
    x_norm, mean, std = _zscore(x_all, mask_all, parts["train"])
    rows = parts[split]
    ot = data[rows, :, 6].astype(np.float32)
    return SeriesData(
        x=x_norm[rows],
        mask=mask_all[rows],
        feature_names=list(ETT_FEATURES),
        name=path.stem.lower(),
        split=split,
        targets={"OT": ot, "OT_daily": ot.reshape(len(rows), 28, 24).mean(axis=2)},
        groups={"year": years[rows], "month": np.array([keys[i][1] for i in rows])},
        meta={"mean": mean, "std": std, "source": str(path)},
    )


# --------------------------------------------------------------------------- Air Quality


def load_air_quality(root: Path, split: str = "train") -> SeriesData:
    """Beijing Multi-Site Air Quality as (year, month, station) samples: x ``(N, 672, 10)``.

    Each group keeps its first 672 rows (groups with fewer are dropped). ``"NA"`` cells have
    ``mask`` False and ``x`` 0 after normalisation. Train = years 2013-2015 and 2017, test =
    2016 (no valid split). z-score fitted on the observed train values only. Static labels:
    ``"month"`` (0-11) and ``"station"`` (index into ``meta["stations"]``, sorted names).
    """
    _check_split(split, ("train", "test"))
    folder = Path(root)
    files = sorted(folder.glob("PRSA_Data_*_20130301-20170228.csv"))
    if not files:
        raise UnweaveError(
            f"{folder}: no PRSA_Data_*_20130301-20170228.csv files; expected the 12 station CSVs."
        )
    required = ["year", "month", "day", "hour", *AIR_FEATURES, "station"]
    groups: dict[tuple[int, int, str], list[list[float]]] = {}
    for path in files:
        for line, row in _rows(path, required):
            year = _integer(row["year"], path, line, "year")
            month = _integer(row["month"], path, line, "month")
            if not 1 <= year <= 9999:
                raise UnweaveError(
                    f"{path}, line {line}: year is {_shown(str(year))}; "
                    "expected a year from 1 to 9999."
                )
            if not 1 <= month <= 12:
                raise UnweaveError(
                    f"{path}, line {line}: month is {month}; expected a number from 1 to 12."
                )
            values = [_number(row[c], path, line, c, True) for c in AIR_FEATURES]
            groups.setdefault((year, month, row["station"]), []).append(values)
    keys = sorted(k for k, rows in groups.items() if len(rows) >= SEQ_LEN)
    if not keys:
        raise UnweaveError(
            f"{folder}: no (year, month, station) of the PRSA files has {SEQ_LEN} hourly rows; "
            "expected at least one whole month."
        )
    raw = np.array([groups[k][:SEQ_LEN] for k in keys], dtype=np.float64)  # (M, 672, 10)
    mask = ~np.isnan(raw)
    years = np.array([k[0] for k in keys])
    stations = sorted({k[2] for k in keys})
    train = np.flatnonzero(years != 2016)
    rows = train if split == "train" else np.flatnonzero(years == 2016)
    months_with = f"the (year, month, station) groups with {SEQ_LEN} hourly rows"
    _check_not_empty(str(folder), train, "train", f"{months_with} outside 2016")
    _check_not_empty(str(folder), rows, split, f"{months_with} of 2016")
    _warn_unobserved(str(folder), AIR_FEATURES, mask[train], "in the training months")
    x_norm, mean, std = _zscore(np.nan_to_num(raw), mask, train)
    return SeriesData(
        x=x_norm[rows],
        mask=mask[rows],
        feature_names=list(AIR_FEATURES),
        name="air_quality",
        split=split,
        static={
            "month": np.array([keys[i][1] - 1 for i in rows], dtype=np.int64),
            "station": np.array([stations.index(keys[i][2]) for i in rows], dtype=np.int64),
        },
        groups={"year": years[rows]},
        meta={"mean": mean, "std": std, "stations": stations, "source": str(folder)},
    )


# --------------------------------------------------------------------------- PhysioNet 2012


def _parse_record(path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """One record file -> hourly sums ``(80, F)``, counts ``(80, F)``, descriptors at 00:00."""
    sums = np.zeros((PHYSIONET_LEN, len(PHYSIONET_FEATURES)))
    counts = np.zeros((PHYSIONET_LEN, len(PHYSIONET_FEATURES)), dtype=np.int64)
    column = {name: j for j, name in enumerate(PHYSIONET_FEATURES)}
    descriptors: dict[str, float] = {}
    with _utf8_text(path) as handle:
        header = handle.readline().strip()
        if header != "Time,Parameter,Value":
            what = "is empty" if not header else f"has '{_shown(header)}'"
            raise UnweaveError(f"{path}, line 1: the file {what}; expected 'Time,Parameter,Value'.")
        for line_no, line in enumerate(handle, start=2):
            line = line.strip()
            if not line:
                continue
            parts = line.split(",")
            if len(parts) != 3:
                raise UnweaveError(
                    f"{path}, line {line_no}: {len(parts)} fields; expected Time,Parameter,Value."
                )
            time, name, text = parts
            clock = PHYSIONET_TIME.fullmatch(time)
            if clock is None:
                raise UnweaveError(
                    f"{path}, line {line_no}: time '{_shown(time)}' is not a time; expected HH:MM."
                )
            value = _number(text, path, line_no, "Value", False)
            hour, minute = int(clock[1]), int(clock[2])
            if hour == 0 and minute == 0 and name in PHYSIONET_DESCRIPTORS:
                if name == "ICUType" and value not in (1, 2, 3, 4):
                    raise UnweaveError(
                        f"{path}, line {line_no}: ICUType is {_shown(text)}; expected 1, 2, 3 or 4."
                    )
                descriptors[name] = value
            elif name in column and hour < PHYSIONET_LEN:
                sums[hour, column[name]] += value
                counts[hour, column[name]] += 1
    return sums, counts, descriptors


def _read_outcomes(path: Path) -> dict[int, int]:
    """RecordID -> In-hospital_death (0 or 1) of an ``Outcomes-<a|b>.txt`` file."""
    deaths: dict[int, int] = {}
    lines: dict[int, int] = {}
    for line, row in _rows(path, ["RecordID", "In-hospital_death"]):
        rid = _integer(row["RecordID"], path, line, "RecordID")
        death = _integer(row["In-hospital_death"], path, line, "In-hospital_death")
        if death not in (0, 1):
            raise UnweaveError(
                f"{path}, line {line}: In-hospital_death is {_shown(str(death))}; expected 0 or 1."
            )
        if rid in deaths:
            raise UnweaveError(
                f"{path}, line {line}: RecordID {_shown(str(rid))} is also on line {lines[rid]}; "
                "expected one row per record."
            )
        deaths[rid], lines[rid] = death, line
    return deaths


def _build_physionet(root: Path, set_name: str, files: list[Path], out: Path) -> None:
    """Parse every record of ``files`` into ``out/records.npz`` (unfiltered, unnormalised)."""
    from tqdm.auto import tqdm

    letter = set_name.split("-")[-1]
    outcomes_path = root / f"Outcomes-{letter}.txt"
    deaths = _read_outcomes(outcomes_path)
    n = len(files)
    values = np.zeros((n, PHYSIONET_LEN, len(PHYSIONET_FEATURES)), dtype=np.float32)
    mask = np.zeros(values.shape, dtype=bool)
    desc = np.full((n, len(PHYSIONET_DESCRIPTORS)), -1.0)
    death = np.zeros(n, dtype=np.int64)
    ids = np.zeros(n, dtype=np.int64)
    for i, path in enumerate(tqdm(files, desc=f"PhysioNet {set_name}", unit="file")):
        sums, counts, descriptors = _parse_record(path)
        observed = counts > 0
        values[i] = np.where(observed, sums / np.maximum(counts, 1), 0.0)
        mask[i] = observed
        for j, name in enumerate(PHYSIONET_DESCRIPTORS):
            desc[i, j] = descriptors.get(name, -1.0)
        ids[i] = int(path.stem)
        if ids[i] not in deaths:
            raise UnweaveError(
                f"{outcomes_path}: no row for RecordID {ids[i]} (file {path.name}); "
                "expected one row per record."
            )
        death[i] = deaths[ids[i]]
    np.savez(out / "records.npz", values=values, mask=mask, desc=desc, death=death, ids=ids)


def load_physionet(root: Path, split: str = "train", set_name: str = "set-a") -> SeriesData:
    """PhysioNet 2012 ICU stays as hourly series: x ``(N, 80, 10)``, mostly unobserved.

    Each measurement of the 10 features falls in bin ``int(HH)`` of its ``HH:MM`` time; a bin
    holds the mean of its values, and bins 0-79 are kept (the stays are about 48 h, so the
    rest is padding with mask False). Descriptors (Age, Gender, Height, ICUType, Weight) are
    the values at 00:00, -1 when absent, in ``groups``; ICUType 1-4 becomes the static label
    ``"icu_type"`` 0-3 (-1 if a record has none). Target ``"in_hospital_death"`` ``(N,)``
    from ``Outcomes-<a|b>.txt``.

    Filter (our reading of the reference): a record's *span* is bins 0..last observed bin;
    it is dropped when fewer than 40 of its bins have any feature observed, or when more than
    60% of the ``span x 10`` cells are unobserved. Records are sorted by RecordID *before*
    filtering; the first 20% are test, the rest train. z-score from observed train values.
    On set-a this keeps 1,787 of 4,000 records (1,444 train, 343 test): the 60% rule drops
    most, since stays without an arterial line never observe DiasABP, MAP and SysABP.
    The parsed records are cached, keyed by the file count, total size and newest mtime, and
    the outcomes file's size and mtime.
    """
    _check_split(split, ("train", "test"))
    root = Path(root)
    folder = root / set_name
    files = sorted(folder.glob("*.txt"), key=lambda p: (len(p.stem), p.stem))
    if not files:
        raise UnweaveError(f"{folder}: no <RecordID>.txt files; expected the PhysioNet records.")
    names: dict[int, str] = {}
    for path in files:
        if not RECORD_ID.fullmatch(path.stem):
            raise UnweaveError(
                f"{path}: the file name is not a RecordID; expected <digits>.txt "
                "(at most 18 digits)."
            )
        if not path.is_file():
            raise UnweaveError(f"{path}: a folder, not a file; expected a record file.")
        if int(path.stem) in names:
            raise UnweaveError(
                f"{path}: RecordID {int(path.stem)} is also the file {names[int(path.stem)]}; "
                "expected one file per record."
            )
        names[int(path.stem)] = path.name
    stats = [p.stat() for p in files]
    outcomes = root / f"Outcomes-{set_name.split('-')[-1]}.txt"
    params = {
        "version": 2,
        "root": str(root.resolve()),
        "set": set_name,
        "count": len(files),
        "size": sum(s.st_size for s in stats),
        "mtime": max(s.st_mtime_ns for s in stats),
        "outcomes": file_fingerprint(outcomes) if outcomes.is_file() else None,
    }
    cache = cached_build(
        "physionet2012", params, lambda out: _build_physionet(root, set_name, files, out)
    )
    with np.load(cache / "records.npz") as data:
        values, mask, desc = data["values"], data["mask"], data["desc"]
        death, ids = data["death"], data["ids"]
    n_test = int(0.2 * len(ids))
    is_test = np.arange(len(ids)) < n_test
    observed_bins = mask.any(axis=2)
    span = np.where(
        observed_bins.any(axis=1), PHYSIONET_LEN - np.argmax(observed_bins[:, ::-1], 1), 0
    )
    n_hours = observed_bins.sum(axis=1)
    missing = 1.0 - mask.sum(axis=(1, 2)) / np.maximum(span * mask.shape[2], 1)
    keep = (n_hours >= 40) & (missing <= 0.6)
    train = np.flatnonzero(keep & ~is_test)
    rows = train if split == "train" else np.flatnonzero(keep & is_test)
    kept = "records with 40 observed hours and at most 60% of cells unobserved"
    _check_not_empty(str(folder), train, "train", f"the {kept} after the first 20%")
    _check_not_empty(str(folder), rows, split, f"the {kept} in the first 20%")
    _warn_unobserved(str(folder), PHYSIONET_FEATURES, mask[train], "in the training records")
    x_norm, mean, std = _zscore(values, mask, train)
    icu = desc[:, PHYSIONET_DESCRIPTORS.index("ICUType")]
    return SeriesData(
        x=x_norm[rows],
        mask=mask[rows],
        feature_names=list(PHYSIONET_FEATURES),
        name=f"physionet2012_{set_name}",
        split=split,
        static={"icu_type": np.where(icu[rows] >= 1, icu[rows] - 1, -1).astype(np.int64)},
        targets={"in_hospital_death": death[rows]},
        groups={
            "record_id": ids[rows],
            **{name.lower(): desc[rows, j] for j, name in enumerate(PHYSIONET_DESCRIPTORS)},
        },
        meta={
            "mean": mean,
            "std": std,
            "n_records": len(ids),
            "n_dropped": int((~keep).sum()),
            "source": str(folder),
        },
    )


# --------------------------------------------------------------------------- generic CSV


def load_series_csv(
    path: Path,
    time_column: str,
    feature_columns: list[str],
    group_column: str,
    window: int | None = None,
    static_labels: list[str] = (),
    dynamic_labels: list[str] = (),
) -> SeriesData:
    """A user's CSV as sequences: x ``(N, T, F)`` raw values, mask False for missing cells.

    Rows are grouped by ``group_column`` and ordered by ``time_column`` (numerically when every
    time is a number, else as text, which orders ISO dates). With ``window=None`` each group is
    one sequence padded to the longest (mask False); with ``window=k`` each group is cut into
    consecutive chunks of ``k`` rows and a shorter remainder is dropped. Values are not
    normalised. ``groups["group"]`` holds each sequence's group value. A time repeated within
    a group is an error; a feature column with no value at all is a warning.

    Label columns (never read by a model): each of ``static_labels`` holds one value per
    sequence (a change within one is an error) -> ``static[name]`` ``(N,)``; each of
    ``dynamic_labels`` one per row -> ``dynamic[name]`` ``(N, T)``. Values are coded 0.. in
    sorted order (numbers numerically), -1 where missing; ``meta["value_names"][name]`` lists
    them.
    """
    path = Path(path)
    if window is not None and (
        isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1
    ):
        raise UnweaveError(f"load_series_csv: window is {window!r}; expected a positive integer.")
    if isinstance(feature_columns, str) or not all(isinstance(c, str) for c in feature_columns):
        raise UnweaveError(
            f"load_series_csv: feature_columns is {feature_columns!r}; "
            "expected a list of column names."
        )
    if not feature_columns:
        raise UnweaveError("load_series_csv: feature_columns is empty; expected at least one.")
    twice = [c for i, c in enumerate(feature_columns) if c in feature_columns[:i]]
    if twice:
        raise UnweaveError(
            f"load_series_csv: feature column {twice[0]} is named twice; expected distinct columns."
        )
    labels = _check_label_columns(static_labels, dynamic_labels, feature_columns)
    required = [group_column, time_column, *feature_columns, *labels]
    grouped: dict[str, list[tuple[str, int, list[float], list[str]]]] = {}
    for line, row in _rows(path, list(dict.fromkeys(required))):
        if row[time_column] in MISSING_TOKENS:
            raise UnweaveError(
                f"{path}, line {line}: column {time_column} is empty; expected a time."
            )
        values = [_number(row[c], path, line, c, True) for c in feature_columns]
        texts = [row[c] for c in labels]
        grouped.setdefault(row[group_column], []).append((row[time_column], line, values, texts))
    if not grouped:
        raise UnweaveError(f"{path}: no data rows after the header; expected at least one.")
    try:
        keys = {t: float(t) for rows in grouped.values() for t, *_ in rows}
    except ValueError:
        keys = {t: t for rows in grouped.values() for t, *_ in rows}  # text order
    sequences: list[np.ndarray] = []
    names: list[str] = []
    label_rows: list[list[tuple[int, list[str]]]] = []  # per sequence: (line, label texts)
    for group, rows in grouped.items():
        first: dict[float | str, int] = {}
        for time, line, *_ in rows:
            key = keys[time]
            if isinstance(key, float) and math.isnan(key):
                raise UnweaveError(
                    f"{path}, line {line}: column {time_column} has '{_shown(time)}'; "
                    "expected a time."
                )
            if key in first:
                raise UnweaveError(
                    f"{path}, line {line}: group '{_shown(group)}' has time '{_shown(time)}' "
                    f"again (also on line {first[key]}); expected one row per time in a group."
                )
            first[key] = line
        rows.sort(key=lambda r: keys[r[0]])
        block = np.array([r[2] for r in rows], dtype=np.float64)
        starts = [0] if window is None else range(0, len(block) - window + 1, window)
        for start in starts:
            end = len(block) if window is None else start + window
            sequences.append(block[start:end])
            names.append(group)
            label_rows.append([(line, texts) for _, line, _, texts in rows[start:end]])
    if not sequences:
        raise UnweaveError(f"{path}: no group has {window} rows; expected at least one window.")
    length = max(len(s) for s in sequences)
    x = np.full((len(sequences), length, len(feature_columns)), np.nan)
    for i, seq in enumerate(sequences):
        x[i, : len(seq)] = seq
    mask = ~np.isnan(x)
    _warn_unobserved(str(path), list(feature_columns), mask, "in any row")
    static, dynamic, value_names = _label_codes(
        path, label_rows, names, list(static_labels), list(dynamic_labels), length
    )
    return SeriesData(
        x=np.nan_to_num(x).astype(np.float32),
        mask=mask,
        feature_names=list(feature_columns),
        name=path.stem,
        split="all",
        static=static,
        dynamic=dynamic,
        groups={"group": np.array(names)},
        meta={"source": str(path), "value_names": value_names},
    )


def _check_label_columns(
    static_labels: list[str], dynamic_labels: list[str], feature_columns: list[str]
) -> list[str]:
    """The label columns, static then dynamic, or one sentence when a list is not a list of
    names, names a column twice, or names a feature (a label the model reads tests nothing)."""
    for option, names in (("static_labels", static_labels), ("dynamic_labels", dynamic_labels)):
        if isinstance(names, str) or not all(isinstance(c, str) for c in names):
            raise UnweaveError(
                f"data.options.{option} is {names!r}; expected a list of column names."
            )
    labels = [*static_labels, *dynamic_labels]
    twice = [c for i, c in enumerate(labels) if c in labels[:i]]
    if twice:
        raise UnweaveError(
            f"Label column {twice[0]} is named twice in static_labels and dynamic_labels; "
            "expected each label column once."
        )
    read = [c for c in labels if c in feature_columns]
    if read:
        raise UnweaveError(
            f"Column {read[0]} is both a feature and a label; a label the model reads would "
            "test nothing: drop it from feature_columns."
        )
    return labels


def _label_codes(
    path: Path,
    label_rows: list[list[tuple[int, list[str]]]],
    names: list[str],
    static_labels: list[str],
    dynamic_labels: list[str],
    length: int,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, list[str]]]:
    """Integer codes of the label columns: static ``(N,)`` and dynamic ``(N, T)``, -1 where
    missing, each column's values in sorted order (numerically when all are numbers)."""
    columns = [*static_labels, *dynamic_labels]
    value_names: dict[str, list[str]] = {}
    for j, column in enumerate(columns):
        seen = {t[j] for rows in label_rows for _, t in rows if t[j] not in MISSING_TOKENS}
        try:
            value_names[column] = sorted(seen, key=float)
        except ValueError:
            value_names[column] = sorted(seen)
    code = {c: {v: i for i, v in enumerate(value_names[c])} for c in columns}
    static = {c: np.full(len(label_rows), -1, dtype=np.int64) for c in static_labels}
    dynamic = {c: np.full((len(label_rows), length), -1, dtype=np.int64) for c in dynamic_labels}
    for i, rows in enumerate(label_rows):
        for j, column in enumerate(static_labels):
            first: tuple[int, str] | None = None
            for line, texts in rows:
                if texts[j] in MISSING_TOKENS:
                    continue
                if first is not None and texts[j] != first[1]:
                    raise UnweaveError(
                        f"{path}, line {line}: static label {column} of group "
                        f"'{_shown(names[i])}' is '{_shown(texts[j])}' after "
                        f"'{_shown(first[1])}' on line {first[0]}; expected one value per "
                        "sequence (list a label that changes in dynamic_labels)."
                    )
                first = first or (line, texts[j])
            if first is not None:
                static[column][i] = code[column][first[1]]
        for j, column in enumerate(dynamic_labels, start=len(static_labels)):
            for t, (_, texts) in enumerate(rows):
                if texts[j] not in MISSING_TOKENS:
                    dynamic[column][i, t] = code[column][texts[j]]
    return static, dynamic, value_names


def split_series_csv(
    root: Path,
    split: str,
    time_column: str,
    feature_columns: list[str],
    group_column: str,
    sequence_length: int | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    static_labels: list[str] = (),
    dynamic_labels: list[str] = (),
) -> SeriesData:
    """A user's CSV file ``root`` (see :func:`load_series_csv`) as a normalised ``"train"`` or
    ``"test"`` split.

    Sequences are shuffled by ``seed`` and the last ``test_fraction`` of them are the test
    split; the z-score is fitted on the observed training values only.
    """
    _check_split(split, ("train", "test"))
    path = Path(root)
    if not 0.0 < test_fraction < 1.0:
        raise UnweaveError(
            f"data.options.test_fraction is {test_fraction}; expected a number between 0 and 1."
        )
    data = load_series_csv(
        path, time_column, feature_columns, group_column, sequence_length,
        static_labels, dynamic_labels,
    )  # fmt: skip
    order = np.random.default_rng(seed).permutation(len(data))
    n_test = int(round(test_fraction * len(data)))
    if n_test == 0 or n_test == len(data):
        raise UnweaveError(
            f"{path}: {len(data)} sequences cannot be split with test_fraction={test_fraction}; "
            "expected at least one sequence in each split."
        )
    train_rows, test_rows = np.sort(order[:-n_test]), np.sort(order[-n_test:])
    in_file = data.mask.reshape(-1, data.n_features).any(axis=0)
    if in_file.any():
        observed = [name for name, seen in zip(data.feature_names, in_file, strict=True) if seen]
        _warn_unobserved(
            str(path), observed, data.mask[train_rows][..., in_file], "in the training sequences"
        )
    x_norm, mean, std = _zscore(data.x, data.mask, train_rows)
    rows = train_rows if split == "train" else test_rows
    return SeriesData(
        x=x_norm[rows],
        mask=data.mask[rows],
        feature_names=data.feature_names,
        name=data.name,
        split=split,
        static={k: v[rows] for k, v in data.static.items()},
        dynamic={k: v[rows] for k, v in data.dynamic.items()},
        groups={"group": data.groups["group"][rows]},
        meta={**data.meta, "mean": mean, "std": std},
    )
