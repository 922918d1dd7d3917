"""Paths and disks: a runs folder, run name, cache or --out that cannot be written, a full disk,
killed data builds and builders running at once are one sentence each and leave nothing
half-written behind."""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unweave import cli
from unweave.data.cache import cache_key, cached_build

REPO = Path(__file__).resolve().parents[1]


def run_main(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> tuple[int, str, str]:
    """Run ``unweave ARGS`` in this process; returns exit status, stdout and stderr."""
    monkeypatch.setattr(sys, "argv", ["unweave", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    captured = capsys.readouterr()
    code = exit_info.value.code
    return (0 if code is None else code), captured.out, captured.err


def assert_one_sentence(code: int, err: str, *parts: str) -> None:
    """Exit status 2 and one line of error on stderr (besides progress bars) holding ``parts``."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if "clip/s]" not in line]  # progress
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for part in parts:
        assert part in lines[0], err


def make_clips(folder: Path, n_clips: int = 3) -> Path:
    """A tiny ``<label>/<clip>/<frame>.png`` folder for the ``frames`` data set."""
    rng = np.random.default_rng(0)
    for label in ("jump", "wave"):
        for clip in range(n_clips):
            clip_folder = folder / label / f"clip{clip}"
            clip_folder.mkdir(parents=True)
            for frame in range(8):
                pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(clip_folder / f"{frame}.png")
    return folder


def dead_pid() -> int:
    """The pid of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def sleeper():
    """Another live process (its pid is not this one's)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process
    process.kill()
    process.wait()


# -- item 10: folders that cannot be written ------------------------------------------------


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        ("runs", ["--runs-dir", "runs"], "Runs folder runs is a file, not a folder"),
        ("runs/taken", ["--name", "taken"], "Run folder runs/taken is a file, not a folder"),
        (
            "runs",
            ["--runs-dir", "runs/deeper", "--name", "x"],
            "Runs folder runs/deeper cannot be created: runs is a file",
        ),
    ],
)
def test_runs_folder_or_name_that_is_a_file(tmp_path, monkeypatch, capsys, make, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / make).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / make).write_text("not a folder")
    code, _, err = run_main(["train", "dbse", *args], monkeypatch, capsys)
    assert_one_sentence(code, err, message)
    assert (tmp_path / make).read_text() == "not a folder"


#: Root writes into a folder of mode 0o500 anyway: as root the permission cases run without the
#: capabilities that allow it (util-linux ``setpriv``), as any other user directly.
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
WITHOUT_OVERRIDE = (
    ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    + ["--inh-caps=-dac_override,-dac_read_search"]
    if IS_ROOT and shutil.which("setpriv")
    else []
)


def run_unprivileged(args: list[str], cwd: Path, **env: str) -> tuple[int, str, str]:
    """``unweave ARGS`` in a subprocess that folder permissions apply to."""
    result = subprocess.run(
        [*WITHOUT_OVERRIDE, sys.executable, "-m", "unweave", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.returncode, result.stdout, result.stderr


@pytest.mark.skipif(
    IS_ROOT and not WITHOUT_OVERRIDE,
    reason="root writes into a folder of mode 0o500 anyway and setpriv is missing to drop that",
)
def test_unwritable_runs_and_cache_folders(tmp_path):
    clips = make_clips(tmp_path / "clips")
    (tmp_path / "runs").mkdir(mode=0o500)
    (tmp_path / "cache").mkdir(mode=0o500)
    try:
        code, _, err = run_unprivileged(["train", "dbse", "--name", "x"], tmp_path)
        assert_one_sentence(code, err, "Runs folder runs cannot be written to (permission denied)")
        args = ["train", "dbse", "--runs-dir", "runs/deeper", "--name", "x"]
        code, _, err = run_unprivileged(args, tmp_path)
        assert_one_sentence(code, err, "runs/deeper cannot be created in runs (permission")
        args = ["data", "build", "frames", "--root", str(clips)]
        code, _, err = run_unprivileged(args, tmp_path, UNWEAVE_CACHE=str(tmp_path / "cache"))
        assert_one_sentence(code, err, f"cache folder {tmp_path / 'cache' / 'frames'} cannot")
    finally:
        (tmp_path / "runs").chmod(0o700)
        (tmp_path / "cache").chmod(0o700)
    assert not any((tmp_path / "runs").iterdir()) and not any((tmp_path / "cache").iterdir())


def test_cache_that_is_a_file(tmp_path, monkeypatch, capsys):
    clips = make_clips(tmp_path / "clips")
    (tmp_path / "cache").write_text("not a folder")
    monkeypatch.setenv("UNWEAVE_CACHE", str(tmp_path / "cache"))
    args = ["data", "build", "frames", "--root", str(clips)]
    code, _, err = run_main(args, monkeypatch, capsys)
    assert_one_sentence(code, err, f"{tmp_path / 'cache'} (UNWEAVE_CACHE) is a file")
    code, _, err = run_main(["data", "list"], monkeypatch, capsys)
    assert_one_sentence(code, err, "(UNWEAVE_CACHE) is a file")
    monkeypatch.setenv("UNWEAVE_CACHE", str(tmp_path / "cache" / "below"))
    code, _, err = run_main(args, monkeypatch, capsys)
    assert_one_sentence(code, err, f"cannot be created: {tmp_path / 'cache'} is a file")
    assert (tmp_path / "cache").read_text() == "not a folder"


def test_swap_out_under_a_file(tmp_path, monkeypatch, capsys):
    from helpers import TINY_MODEL

    pairs = [*TINY_MODEL, "data.options.size=16", "data.options.n_train=32"]
    pairs += ["data.options.n_test=16", "train.batch_size=16", "train.max_epochs=1"]
    args = [arg for pair in pairs for arg in ("--set", pair)]
    trained = subprocess.run(
        [sys.executable, "-m", "unweave", "train", "dbse", "--name", "r", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert trained.returncode == 0, trained.stderr[-2000:]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken").write_text("not a folder")
    for out in ("taken/swap.png", "taken/deeper/swap.png"):
        code, _, err = run_main(["swap", "runs/r", "--out", out], monkeypatch, capsys)
        assert_one_sentence(code, err, "--out", "taken is a file, not a folder")
    assert (tmp_path / "taken").read_text() == "not a folder"


def test_an_os_error_a_user_can_act_on_is_one_sentence(tmp_path, monkeypatch, capsys):
    """Whatever command meets a full disk or a refused write: one sentence naming the path."""
    import unweave.data.registry

    def refused(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/data/sprites/x.png")

    monkeypatch.setattr(unweave.data.registry, "load_data", refused)
    code, _, err = run_main(["data", "build", "sprites"], monkeypatch, capsys)
    assert_one_sentence(code, err, "/data/sprites/x.png", "Permission denied")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(unweave.data.registry, "load_data", full)
    code, _, err = run_main(["data", "build", "sprites"], monkeypatch, capsys)
    assert_one_sentence(code, err, "No space left on device", "free some space")


# -- item 10: a full disk -----------------------------------------------------------------------


def test_full_disk_while_building_data_leaves_nothing(fresh_cache, tmp_path, monkeypatch, capsys):
    clips = make_clips(tmp_path / "clips")
    real_save = np.save

    def save_then_fill_the_disk(file, array, *args, **kwargs):
        real_save(file, array[:1], *args, **kwargs)  # part of it reached the disk
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "save", save_then_fill_the_disk)
    args = ["data", "build", "frames", "--root", str(clips)]
    code, _, err = run_main(args, monkeypatch, capsys)
    assert_one_sentence(code, err, str(fresh_cache), "filled up", "No space left on device")
    assert not [p for p in (fresh_cache / "frames").iterdir()]  # no entry, no temporary
    monkeypatch.setattr(np, "save", real_save)
    code, out, err = run_main(args, monkeypatch, capsys)
    assert code == 0, err
    assert "frames/train" in out


def test_full_disk_while_writing_a_swap_image_leaves_nothing(tmp_path, monkeypatch):
    import torch

    from unweave.viz.swap import save_swap_png

    def save_then_fill_the_disk(self, fp, *args, **kwargs):
        Path(fp).write_bytes(b"\x89PNG partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Image.Image, "save", save_then_fill_the_disk)
    clips = torch.rand(2, 3, 3, 8, 8)
    with pytest.raises(OSError, match="No space left"):
        save_swap_png(clips, torch.rand(2, 2, 3, 3, 8, 8), tmp_path / "out" / "swap.png")
    assert list((tmp_path / "out").iterdir()) == []


# -- item 11: temporaries of killed builds --------------------------------------------------


def test_a_build_removes_temporaries_of_killed_builds_only(fresh_cache, sleeper):
    """Same machine: by whether the builder's process runs. Another machine sharing the cache:
    by whether its folder changed in the last day."""
    kind = fresh_cache / "tiny"
    kind.mkdir(parents=True)
    dead, host = dead_pid(), socket.gethostname()
    stale = [
        kind / f".0123456789abcdef.tmp-{dead}",  # as unweave named them before
        kind / f".fedcba9876543210.tmp-{dead}@{host}",
        kind / ".fedcba9876543210.tmp-1@elsewhere-old",
    ]
    live = [
        kind / f".0123456789abcdef.tmp-{sleeper.pid}",
        kind / f".0123456789abcdef.tmp-{sleeper.pid}@{host}",
        kind / ".fedcba9876543210.tmp-1@elsewhere-busy",
    ]
    for folder in [*stale, *live]:
        folder.mkdir()
        (folder / "part.npy").write_bytes(b"x" * 1000)
    two_days_ago = time.time() - 2 * 24 * 3600
    for path in (stale[2] / "part.npy", stale[2]):
        os.utime(path, (two_days_ago, two_days_ago))
    folder = cached_build("tiny", {"n": 1}, lambda out: (out / "x.txt").write_text("1"))
    assert (folder / "x.txt").read_text() == "1"
    assert [path.exists() for path in stale] == [False] * 3
    assert [(path / "part.npy").exists() for path in live] == [True] * 3
    assert sorted(p.name for p in kind.iterdir()) == sorted([folder.name, *(p.name for p in live)])


def test_data_list_shows_sizes_and_removes_stale_temporaries(
    fresh_cache, monkeypatch, capsys, sleeper
):
    entry = cached_build("tiny", {"n": 2}, lambda out: (out / "x.bin").write_bytes(b"0" * 2**20))
    kind = entry.parent
    stale, live = kind / f".aaaa.tmp-{dead_pid()}", kind / f".bbbb.tmp-{sleeper.pid}"
    for folder in (stale, live):
        folder.mkdir()
        (folder / "part.bin").write_bytes(b"0" * 3 * 2**20)
    code, out, err = run_main(["data", "list"], monkeypatch, capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert any(f"tiny/{entry.name}  1.0 MiB" in line for line in lines), out
    assert any(stale.name in line and "removed" in line and "3.0 MiB" in line for line in lines)
    assert any(
        live.name in line and f"being built by process {sleeper.pid}" in line for line in lines
    )
    assert not stale.exists() and live.exists()


# -- two builders at once -------------------------------------------------------------------

BUILDER = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from unweave.data.cache import cached_build

    me, delay = sys.argv[1], float(sys.argv[2])

    def build(out: Path) -> None:
        kind = out.parent
        deadline = time.time() + 120
        while len(list(kind.glob(".*.tmp-*"))) < 2 and time.time() < deadline:
            time.sleep(0.05)  # both builders are under way before either finishes
        time.sleep(delay)
        (out / "who.txt").write_text(me)
        (out / "data.bin").write_bytes(os.urandom(2**16))

    folder = cached_build("race", {"n": 3}, build)
    print(json.dumps({"folder": str(folder), "who": (folder / "who.txt").read_text()}))
    """
)


def test_two_builders_at_once_get_the_same_complete_entry(fresh_cache, tmp_path):
    script = tmp_path / "builder.py"
    script.write_text(BUILDER)
    env = {**os.environ, "UNWEAVE_CACHE": str(fresh_cache), "PYTHONWARNINGS": "ignore"}
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), me, delay], env=env, stdout=subprocess.PIPE, text=True
        )
        for me, delay in (("first", "0.1"), ("second", "1.5"))
    ]
    results = [json.loads(process.communicate(timeout=300)[0]) for process in processes]
    assert all(process.returncode == 0 for process in processes)
    final = fresh_cache / "race" / cache_key({"n": 3})
    assert [r["folder"] for r in results] == [str(final)] * 2
    # The first to finish wins; the second uses its entry instead of replacing it underfoot.
    assert [r["who"] for r in results] == ["first", "first"]
    assert (final / "who.txt").read_text() == "first" and (final / "COMPLETE").exists()
    assert [p.name for p in (fresh_cache / "race").iterdir()] == [final.name]


def test_a_full_disk_in_an_atomic_write_names_the_file(tmp_path, monkeypatch):
    from unweave.atomic import write_atomic
    from unweave.paths import os_error_sentence

    def full(descriptor):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    target = tmp_path / "config.yaml"
    with pytest.raises(OSError) as error:
        write_atomic(target, "a: 1\n")
    assert error.value.errno == errno.ENOSPC and error.value.filename == str(target)
    assert os_error_sentence(error.value) == (
        f"Could not write {target} (No space left on device); free some space or write to "
        "another disk."
    )
    assert list(tmp_path.iterdir()) == []
