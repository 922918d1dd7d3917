"""The documentation site builds strictly, renders in headless Chromium (pages, images,
search), and every ``unweave`` command line it or the README shows is one the CLI accepts."""

from __future__ import annotations

import functools
import http.server
import os
import re
import shlex
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import typer
import yaml
from helpers import chromium

from unweave.cli import app

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted((REPO / "docs").rglob("*.md"))


def nav_pages(entries: list) -> list[str]:
    """The Markdown files of mkdocs.yml's nav, in order."""
    pages: list[str] = []
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages += nav_pages(value) if isinstance(value, list) else [value]
    return pages


#: The Markdown files of mkdocs.yml's nav, in order.
NAV = nav_pages(yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``mkdocs build --strict`` into a temporary folder (any warning fails the build)."""
    pytest.importorskip("mkdocs", reason="the docs extra: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_every_docs_page_is_in_the_nav():
    assert sorted(NAV) == sorted(str(p.relative_to(REPO / "docs")) for p in PAGES)


def test_the_site_has_every_page_with_its_images_and_the_api_reference(site):
    for page in NAV:
        html_path = site / ("index.html" if page == "index.md" else page[:-3] + "/index.html")
        html = html_path.read_text()
        assert "--8<--" not in html, f"{page}: a snippet was not included"
        for src in re.findall(r'<img [^>]*src="([^"]+)"', html):
            assert (html_path.parent / src).resolve().is_file(), f"{page}: {src}"
    reference = (site / "reference/index.html").read_text()
    for name in ("unweave.api.fit", "unweave.api.Run", "unweave.api.evaluate", "DataSet"):
        assert name in reference, name
    example = (site / "guides/own-method/index.html").read_text()  # the file, highlighted
    assert "TinySequentialVAE" in example and "export_config" in example


@pytest.fixture(scope="module")
def served(site: Path):
    """The built site over HTTP on a free loopback port (search needs more than file://)."""
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base's name)
        """No access log on stderr."""


def test_the_site_renders_in_headless_chromium_and_its_search_finds_pages(served):
    binary = chromium()
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    pages = ["", *(f"{p[:-3]}/" for p in NAV if p != "index.md")]
    failed: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(binary), args=["--no-sandbox"])
        page = browser.new_page()
        # Requests to other hosts, missing files, and failures other than the aborts that
        # leaving a page causes (a favicon still loading, say).
        page.on("request", lambda r: r.url.startswith(("http:", "https:")) and not r.url.startswith(served) and failed.append(r.url))  # fmt: skip
        page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))
        page.on("requestfailed", lambda r: "ERR_ABORTED" not in (r.failure or "") and failed.append(f"{r.failure} {r.url}"))  # fmt: skip
        images = 0
        for path in pages:
            page.goto(f"{served}/{path}", wait_until="load")
            assert page.locator("article h1").count() >= 1, path
            states = page.evaluate("[...document.images].map(i => [i.src, i.naturalWidth > 0])")
            assert all(ok for _, ok in states), f"{path}: {[s for s, ok in states if not ok]}"
            images += len(states)
        assert images >= 15
        page.goto(f"{served}/?q=judge", wait_until="load")
        page.wait_for_selector(".md-search-result__item", timeout=20_000)
        hits = page.locator(".md-search-result__item a").evaluate_all("a => a.map(x => x.href)")
        assert any("/evaluation/" in href for href in hits), hits
        browser.close()
    assert not failed, failed  # nothing missing, nothing fetched from other hosts


def shown_commands(text: str) -> list[list[str]]:
    """The ``unweave ...`` command lines of a Markdown text's bash blocks, as arguments."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["unweave"]:
                commands.append(words[1:])
    return commands


@pytest.mark.parametrize("path", [REPO / "README.md", *PAGES], ids=lambda p: p.name)
def test_every_command_line_shown_is_one_the_cli_accepts(path):
    for args in shown_commands(path.read_text()):
        problem = parse_problem(args)
        assert problem is None, f"{path.name}: 'unweave {shlex.join(args)}': {problem}"


def parse_problem(args: list[str]) -> str | None:
    """What the CLI's parser says against ``unweave ARGS`` (nothing is run), or None.

    Typer carries its own copy of click, so groups and usage errors are told by what they
    do (``resolve_command``, ``format_message``) rather than by click's classes."""
    command, context, rest = typer.main.get_command(app), None, list(args)
    try:
        while True:
            context = command.make_context("unweave", rest, parent=context)
            rest = context._protected_args + context.args
            if not hasattr(command, "resolve_command"):
                return None
            if not rest and getattr(command, "invoke_without_command", False):
                return None  # a group that runs on its own (unweave study ...)
            _, command, rest = command.resolve_command(context, rest)
    except Exception as error:
        if not hasattr(error, "format_message"):
            raise
        return error.format_message()


def test_a_command_line_the_cli_refuses_is_caught():
    assert parse_problem(["train", "dbse", "--data", "sprites"]) is None
    assert "No such option" in parse_problem(["train", "dbse", "--data", "sprites", "--bogus"])
    assert "No such command" in parse_problem(["nosuch", "x"])
    assert "Missing argument" in parse_problem(["evaluate"])
    assert parse_problem(["study", "--methods", "dbse", "--data", "sprites"]) is None
    assert "Missing option '--index'" in parse_problem(["study", "--data", "sprites", "run-cell"])
