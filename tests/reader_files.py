"""Small valid files for the data readers (importable as `reader_files`): ETT, PRSA,
PhysioNet 2012 and a generic series CSV, as text, so tests can re-encode or damage them."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from unweave.data.timeseries import PHYSIONET_FEATURES

ETT_HEAD = "date,HUFL,HULL,MUFL,MULL,LUFL,LULL,OT\n"
AIR_HEAD = "No,year,month,day,hour,PM2.5,PM10,SO2,NO2,CO,O3,TEMP,PRES,DEWP,RAIN,wd,WSPM,station\n"
AIR_NAME = "PRSA_Data_Test_20130301-20170228.csv"
SEQ_LEN = 672


def ett_text(months: tuple[tuple[int, int], ...] = ((2016, 7), (2017, 1))) -> str:
    """An ETT CSV with 672 hourly rows for each ``(year, month)``."""
    rows = [ETT_HEAD]
    for year, month in months:
        start = datetime(year, month, 1)
        for h in range(SEQ_LEN):
            stamp = start + timedelta(hours=h)
            values = ",".join(f"{(h * (k + 3)) % 17 + 0.5 * k:.2f}" for k in range(7))
            rows.append(f"{stamp:%Y-%m-%d %H:%M:%S},{values}\n")
    return "".join(rows)


def air_text(
    groups: tuple[tuple[int, int], ...] = ((2013, 3), (2016, 3)), station: str = "Test"
) -> str:
    """A PRSA CSV with 672 hourly rows for each ``(year, month)`` of one station."""
    rows = [AIR_HEAD]
    for year, month in groups:
        for h in range(SEQ_LEN):
            day, hour = 1 + h // 24, h % 24
            v = [4 + h % 7, 9 + h % 5, 4, 7, 300 + h % 11, 77, -0.7, 1023, -18.8, 4.4]
            rows.append(
                f"{len(rows)},{year},{month},{day},{hour},{v[0]},{v[1]},{v[2]},{v[3]},{v[4]},"
                f"{v[5]},{v[6]},{v[7]},{v[8]},0,NNW,{v[9]},{station}\n"
            )
    return "".join(rows)


def physionet_record(record_id: int, hours: int = 48, seed: int = 0) -> str:
    """A record with every vital observed each hour for ``hours`` hours (passes the filter)."""
    rng = np.random.default_rng(seed + record_id)
    lines = [
        "Time,Parameter,Value",
        f"00:00,RecordID,{record_id}",
        "00:00,Age,54",
        "00:00,Gender,1",
        f"00:00,ICUType,{1 + record_id % 4}",
    ]
    for hour in range(hours):
        for name in PHYSIONET_FEATURES:
            lines.append(f"{hour:02d}:{rng.integers(0, 60):02d},{name},{rng.normal(60, 10):.1f}")
    return "\n".join(lines) + "\n"


def outcomes_text(record_ids: list[int]) -> str:
    """An ``Outcomes-a.txt`` with alternating deaths."""
    rows = ["RecordID,SAPS-I,SOFA,Length_of_stay,Survival,In-hospital_death"]
    rows += [f"{rid},10,5,7,-1,{i % 2}" for i, rid in enumerate(record_ids)]
    return "\n".join(rows) + "\n"


def write_physionet(root: Path, n_records: int = 5) -> list[int]:
    """``root/set-a/<id>.txt`` for ``n_records`` records (20% test) and ``root/Outcomes-a.txt``."""
    (root / "set-a").mkdir(parents=True, exist_ok=True)
    ids = [132539 + i for i in range(n_records)]
    for rid in ids:
        (root / "set-a" / f"{rid}.txt").write_text(physionet_record(rid))
    (root / "Outcomes-a.txt").write_text(outcomes_text(ids))
    return ids


def series_text(n_groups: int = 6, n_times: int = 5) -> str:
    """A series CSV: columns ``site,t,a,b``; ``n_groups`` sites of ``n_times`` rows."""
    rows = ["site,t,a,b"]
    rows += [f"s{g},{t},{g + 0.1 * t:.2f},{t * t}" for g in range(n_groups) for t in range(n_times)]
    return "\n".join(rows) + "\n"
