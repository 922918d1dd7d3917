"""Files written whole or not at all, and results merged into JSON files that may be damaged."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from unweave.atomic import atomic_file, remove_stale_temporaries, update_json, write_atomic


def test_an_error_inside_the_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "eval.json"
    write_atomic(path, '{"a": 1}')
    with pytest.raises(OSError), atomic_file(path) as handle:
        handle.write(b'{"a": 2, "b"')
        raise OSError(28, "No space left on device")
    assert path.read_text() == '{"a": 1}'
    assert [p.name for p in tmp_path.iterdir()] == ["eval.json"]


def test_results_merge_into_the_file(tmp_path):
    path = tmp_path / "eval.json"
    assert update_json(path, {"a": 1}) is None
    assert update_json(path, {"b": 2}) is None
    assert json.loads(path.read_text()) == {"a": 1, "b": 2}


@pytest.mark.parametrize("damage", [b'{"a": 1,', b"[1, 2]", b"\xff\xfe{"])
def test_a_damaged_results_file_is_set_aside_and_the_new_results_kept(tmp_path, damage):
    path = tmp_path / "eval.json"
    path.write_bytes(damage)
    note = update_json(path, {"b": 2})
    assert note is not None and "eval.json was damaged" in note and "eval.json.damaged" in note
    assert json.loads(path.read_text()) == {"b": 2}
    assert (tmp_path / "eval.json.damaged").read_bytes() == damage


def test_only_the_temporaries_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                          capture_output=True).stdout.strip()  # fmt: skip
    stale, live = tmp_path / f".last.ckpt.tmp-{dead}", tmp_path / ".last.ckpt.tmp-1"
    stale.write_bytes(b"cut"), live.write_bytes(b"being written")  # pid 1 is always alive
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert not stale.exists() and live.exists()
