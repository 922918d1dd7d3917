"""Comparing runs by their eval.json: the text table, the bar chart and the errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from unweave.compare import compare_runs
from unweave.errors import UnweaveError
from unweave.viz.plots import metric_bars_png

DBSE = {
    "probe/mse": 0.0125,
    "probe/static->skin": 0.96875,
    "judge/swap/acc/action": 0.8,
    "judge/swap/acc/action_std": 0.05,
    "judge/swap/IS": 7.5,
    "judge/swap/IS_std": 0.25,
}
DSVAE = {
    "probe/static->skin": 0.5,
    "judge/swap/acc/action": 0.25,
    "judge/swap/acc/action_std": 0.125,
    "judge/swap/IS": 3.0,
    "judge/sample_static/acc/skin": 0.75,
}


def make_run(folder: Path, figures: dict | str | None) -> Path:
    folder.mkdir(parents=True)
    if figures is not None:
        text = figures if isinstance(figures, str) else json.dumps(figures)
        (folder / "eval.json").write_text(text)
    return folder


@pytest.fixture
def two_runs(tmp_path: Path) -> list[Path]:
    return [make_run(tmp_path / "dbse-small", DBSE), make_run(tmp_path / "dsvae-small", DSVAE)]


def rows(table: str) -> dict[str, list[str]]:
    """Table lines keyed by their first column, split on runs of two or more spaces."""
    return {cells[0]: cells[1:] for cells in (re.split(r"\s{2,}", ln) for ln in table.splitlines())}


def test_table_has_every_metric_and_dashes_for_missing(two_runs, tmp_path):
    out = tmp_path / "charts" / "bars.png"
    table = compare_runs(two_runs, out_png=out)
    lines = rows(table)
    assert lines["metric"] == ["dbse-small", "dsvae-small"]
    assert lines["probe/mse"] == ["0.0125", "-"]
    assert lines["judge/sample_static/acc/skin"] == ["-", "0.7500"]
    assert lines["judge/swap/acc/action"] == ["0.8000 +- 0.0500", "0.2500 +- 0.1250"]
    assert lines["judge/swap/IS"] == ["7.5000 +- 0.2500", "3.0000"]
    assert lines["probe/static->skin"] == ["0.9688", "0.5000"]
    assert not [key for key in lines if key.endswith("_std")]
    image = Image.open(out)
    assert image.format == "PNG" and image.width > 300 and image.height > 200
    assert not list(out.parent.glob(".*"))


def test_runs_with_the_same_folder_name_are_told_apart(tmp_path):
    a = make_run(tmp_path / "a" / "run", DBSE)
    b = make_run(tmp_path / "b" / "run", DSVAE)
    assert rows(compare_runs([a, b]))["metric"] == ["a/run", "b/run"]


def test_bar_chart_takes_runs_of_metrics():
    png = metric_bars_png({"one": DBSE, "two": DSVAE, "three": {"probe/mse": 0.5}})
    assert png.startswith(b"\x89PNG")
    with pytest.raises(UnweaveError, match="no numeric metrics"):
        metric_bars_png({"one": {"note": "text"}})


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (None, r"has no eval\.json; run unweave evaluate .*second first"),
        ("{not json", r"eval\.json is not valid JSON"),
        ("[1, 2]", r"holds a list; expected an object"),
    ],
)
def test_bad_runs_are_named(tmp_path, second, message):
    first = make_run(tmp_path / "first", DBSE)
    other = make_run(tmp_path / "second", second)
    out = tmp_path / "bars.png"
    with pytest.raises(UnweaveError, match=message):
        compare_runs([first, other], out_png=out)
    assert not out.exists()


def test_fewer_than_two_runs_or_repeats_are_refused(two_runs, tmp_path):
    with pytest.raises(UnweaveError, match="at least 2 runs; got 1"):
        compare_runs(two_runs[:1])
    with pytest.raises(UnweaveError, match="at least 2 runs; got 0"):
        compare_runs([])
    with pytest.raises(UnweaveError, match="given twice"):
        compare_runs([two_runs[0], two_runs[0]])
    with pytest.raises(UnweaveError, match="does not exist"):
        compare_runs([two_runs[0], tmp_path / "nowhere"])
