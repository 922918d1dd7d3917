"""The HTML report of a run: self-contained, every figure decodes, and it renders in Chromium."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import signal
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import TINY_MODEL, chromium
from PIL import Image

from unweave.errors import UnweaveError
from unweave.report import write_report
from unweave.training.config import resolve
from unweave.training.run import train
from unweave.viz.plots import embedding_png, loss_curves_png
from unweave.viz.swap import save_swap_gif, save_swap_png

TINY_DATA = ["data.options.size=16", "data.options.n_train=64", "data.options.n_test=32"]
FIGURE_IDS = {"loss-curves", "swap-grid", "swap-clip", "embedding-static", "embedding-dynamic"}
EVAL = {
    "probe/mse": 0.0123,
    "probe/static->skin": 0.875,
    "judge/sample_static/acc/action": 0.5,
    "judge/sample_static/acc/action_std": 0.0625,
}


class PageParser(HTMLParser):
    """Collects the ids, the <img> attributes and the external references of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.images: list[dict[str, str]] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if "id" in attributes:
            self.ids.add(attributes["id"])
        if tag == "img":
            self.images.append(attributes)
        for key in ("src", "href"):
            if key in attributes and not attributes[key].startswith("data:"):
                self.external.append(f"{tag} {key}={attributes[key]}")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-epoch DBSE run on 16x16 toy sprites, with a hand-written eval.json."""
    overrides = [*TINY_MODEL, *TINY_DATA, "train.batch_size=16", "train.max_epochs=1"]
    config = resolve("dbse", "toy-sprites", "cpu", overrides=overrides)
    run = tmp_path_factory.mktemp("report") / "tiny-run"
    train(config, run, enable_progress_bar=False, enable_model_summary=False)
    (run / "eval.json").write_text(json.dumps(EVAL))
    return run


@pytest.fixture(scope="module")
def report(tiny_run: Path) -> Path:
    return write_report(tiny_run)


def parse(path: Path) -> tuple[str, PageParser]:
    text = path.read_text(encoding="utf-8")
    parser = PageParser()
    parser.feed(text)
    return text, parser


def decode_image(src: str) -> Image.Image:
    match = re.fullmatch(r"data:image/(png|gif);base64,([A-Za-z0-9+/=]+)", src)
    assert match, src[:80]
    image = Image.open(io.BytesIO(base64.b64decode(match.group(2), validate=True)))
    image.load()
    assert image.format.lower() == match.group(1)
    return image


def test_report_is_one_self_contained_file(tiny_run, report):
    assert report == tiny_run / "report.html"
    text, page = parse(report)
    assert FIGURE_IDS | {"metrics-table", "config", "environment"} <= page.ids
    assert {img["id"] for img in page.images} == FIGURE_IDS
    for img in page.images:
        assert img["alt"].strip(), img["id"]
        image = decode_image(img["src"])
        assert image.width > 16 and image.height > 16
    gif = next(img for img in page.images if img["id"] == "swap-clip")
    assert decode_image(gif["src"]).n_frames == 8
    assert page.external == []
    without_payloads = re.sub(r"data:image/\w+;base64,[A-Za-z0-9+/=]+", "", text)
    assert "http" not in without_payloads.lower()
    assert "<link" not in text and "url(" not in text
    assert "tiny-run" in text and "dbse" in text and "toy-sprites" in text
    assert "0.5000 &plusmn; 0.0625" in text and "probe/static-&gt;skin" in text
    assert "action_std" not in text
    assert not [p.name for p in tiny_run.glob(".*")]  # no temporary file left behind


def test_report_without_eval_uses_the_runs_swap_files(tiny_run, tmp_path):
    run = tmp_path / "copy"
    shutil.copytree(tiny_run, run)
    (run / "eval.json").unlink()
    (run / "report.html").unlink(missing_ok=True)
    clips = torch.rand(2, 8, 3, 16, 16)
    grid = torch.rand(2, 2, 8, 3, 16, 16)
    save_swap_png(clips, grid, run / "swap.png")
    save_swap_gif(clips, grid, run / "swap.gif")
    out = write_report(run, out=tmp_path / "elsewhere" / "r.html", max_clips=8)
    text, page = parse(out)
    assert "not evaluated yet: run unweave evaluate" in text and "metrics-table" not in page.ids
    sources = {img["id"]: img["src"] for img in page.images}
    for ident, name in (("swap-grid", "swap.png"), ("swap-clip", "swap.gif")):
        payload = sources[ident].split(",", 1)[1]
        assert base64.b64decode(payload) == (run / name).read_bytes()
    assert "of 8 test clips" in text
    assert not (run / "report.html").exists()


def test_run_without_weights_is_refused_and_nothing_is_written(tiny_run, tmp_path):
    run = tmp_path / "unfinished"
    shutil.copytree(tiny_run, run)
    (run / "model.safetensors").unlink()
    (run / "report.html").unlink(missing_ok=True)
    with pytest.raises(UnweaveError, match=r"unfinished has no model\.safetensors"):
        write_report(run)
    assert not (run / "report.html").exists() and not list(run.glob(".*"))


def test_plot_inputs_are_checked(tmp_path):
    csv = tmp_path / "metrics.csv"
    csv.write_text("epoch,loss,step,val/x\n0,3.0,1,\n0,2.0,2,\n0,,2,0.5\n")
    assert Image.open(io.BytesIO(loss_curves_png(csv))).format == "PNG"
    with pytest.raises(UnweaveError, match="missing"):
        loss_curves_png(tmp_path / "none.csv")
    codes = np.random.default_rng(0).normal(size=(10, 4))
    png = embedding_png(codes, {"a": np.arange(10) % 3, "b": np.arange(10) * 7}, "codes")
    assert Image.open(io.BytesIO(png)).format == "PNG"
    with pytest.raises(UnweaveError, match="one label per code"):
        embedding_png(codes, {"a": np.arange(9)}, "codes")


def run_chromium(binary: Path, profile: Path, *args: str) -> str:
    """Run headless Chromium with a fresh profile; returns stdout. Kills its group on timeout."""
    command = [
        str(binary),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"Chromium did not finish within 60 s: {' '.join(args)}")
    assert process.returncode == 0, err[-2000:]
    return out


def test_report_renders_in_headless_chromium(report, tmp_path):
    binary = chromium()
    url = report.resolve().as_uri()
    dom = run_chromium(binary, tmp_path / "p1", "--virtual-time-budget=5000", "--dump-dom", url)
    body = re.search(r"<body[^>]*>", dom)
    assert body, dom[:500]
    loaded = re.search(r'data-images-loaded="(\d+)"', body.group(0))
    total = re.search(r'data-images-total="(\d+)"', body.group(0))
    assert loaded and total, body.group(0)
    assert int(loaded.group(1)) == int(total.group(1)) >= 4

    shot = tmp_path / "shot.png"
    args = ["--window-size=1200,2400", f"--screenshot={shot}", "--virtual-time-budget=5000"]
    run_chromium(binary, tmp_path / "p2", *args, url)
    image = Image.open(shot)
    assert image.size == (1200, 2400)
    assert np.asarray(image.convert("L"), dtype=np.float64).var() > 200
