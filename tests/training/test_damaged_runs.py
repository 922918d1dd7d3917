"""Damaged run files and failed writes: one sentence each, and nothing good destroyed."""

from __future__ import annotations

import errno
import os
import re
import stat

import pytest
import torch
from helpers import TINY_MODEL, random_clips

import unweave
from unweave.errors import UnweaveError
from unweave.training.config import resolve
from unweave.training.run import LAST_CHECKPOINT, train

QUIET = {"enable_progress_bar": False}


def tiny_config(method: str = "dbse", epochs: int = 1) -> dict:
    overrides = [*TINY_MODEL, f"train.max_epochs={epochs}", "train.batch_size=16"]
    if method == "dsvae":
        overrides.append("model.hidden_dim=16")
    return resolve(method, "toy-sprites", "cpu", overrides=overrides)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished one-epoch DBSE run (copied by the tests that damage it)."""
    return train(
        tiny_config(),
        tmp_path_factory.mktemp("finished") / "run",
        train_data=random_clips(),
        **QUIET,
    )


@pytest.fixture
def stopped(tmp_path):
    """A one-epoch run that is not finished (its export removed), to be resumed."""
    run = train(tiny_config(), tmp_path / "run", train_data=random_clips(), **QUIET)
    (run / "model.safetensors").unlink()
    return run


def test_a_full_disk_during_a_checkpoint_write_keeps_the_previous_checkpoint(stopped, monkeypatch):
    last = stopped / LAST_CHECKPOINT
    before = last.read_bytes()
    real_save = torch.save

    def save_until_the_disk_is_full(obj, handle, *args, **kwargs):
        real_save(obj, handle, *args, **kwargs)  # part of the file reaches the disk...
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # ...then the disk is full

    monkeypatch.setattr(torch, "save", save_until_the_disk_is_full)
    with pytest.raises(UnweaveError, match=r"Could not write checkpoint .*last\.ckpt \(No space"):
        train(tiny_config(epochs=2), stopped, resume=True, train_data=random_clips(), **QUIET)
    assert last.read_bytes() == before
    assert os.listdir(last.parent) == ["last.ckpt"]  # no temporary file left


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (b"", "the file is empty"),
        (b"not a checkpoint at all", "it is not a complete PyTorch zip archive"),
        ("cut", "it is not a complete PyTorch zip archive"),
    ],
)
def test_a_damaged_checkpoint_is_one_sentence_with_its_reason(stopped, damage, reason):
    last = stopped / LAST_CHECKPOINT
    last.write_bytes(last.read_bytes()[:2000] if damage == "cut" else damage)
    with pytest.raises(UnweaveError, match=rf"last\.ckpt is unreadable: {reason}") as error:
        train(tiny_config(epochs=2), stopped, resume=True, train_data=random_clips(), **QUIET)
    assert "weights_only" not in str(error.value)  # torch's advice to unpickle is not repeated


def test_a_checkpoint_with_pickled_objects_is_refused_without_running_them(stopped):
    last = stopped / LAST_CHECKPOINT
    torch.save({"state_dict": {}, "payload": os.system}, last)  # would run code if unpickled
    with pytest.raises(UnweaveError, match="Python objects besides tensors"):
        train(tiny_config(epochs=2), stopped, resume=True, train_data=random_clips(), **QUIET)


def test_a_checkpoint_of_another_model_is_refused(stopped, tmp_path):
    other = train(tiny_config("dsvae"), tmp_path / "other", train_data=random_clips(), **QUIET)
    (stopped / LAST_CHECKPOINT).write_bytes((other / LAST_CHECKPOINT).read_bytes())
    with pytest.raises(UnweaveError, match="holds another model than this run's dbse"):
        train(tiny_config(epochs=2), stopped, resume=True, train_data=random_clips(), **QUIET)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("method: [dbse\n", r"config\.yaml is not valid YAML \(at line"),
        ("just a string\n", r"config\.yaml does not hold a run config"),
        (b"\xff\xfe\x00m", r"config\.yaml is not valid YAML \(not UTF-8"),
    ],
)
def test_a_broken_config_yaml_is_one_sentence(stopped, text, message):
    path = stopped / "config.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(UnweaveError, match=message):
        train(tiny_config(epochs=2), stopped, resume=True, train_data=random_clips(), **QUIET)


@pytest.mark.parametrize("name", ["config.json", "model.json"])  # model.json: older runs
@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda info: "[1, 2]", "{name} holds a JSON list, not an object"),
        (lambda info: info.replace('"method"', '"methd"'), "{name} has no 'method'"),
        (
            lambda info: info.replace('"method": "dbse"', '"method": "dsvae"'),
            "{name} does not describe a model unweave builds: Unknown setting",
        ),
        (lambda info: info[:-20], "{name} is not valid JSON"),
    ],
)
def test_a_broken_model_description_names_its_file(finished, tmp_path, edit, message, name):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.safetensors").write_bytes((finished / "model.safetensors").read_bytes())
    (run / name).write_text(edit((finished / "config.json").read_text()))
    with pytest.raises(UnweaveError, match=re.escape(message.format(name=name))):
        unweave.load(run)


def test_an_older_run_with_model_json_loads_as_before(finished, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.safetensors").write_bytes((finished / "model.safetensors").read_bytes())
    (run / "model.json").write_text((finished / "config.json").read_text())
    assert unweave.load(run).model.name == "dbse"


def test_exported_weights_follow_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        run = train(tiny_config(), tmp_path / "run", train_data=random_clips(), **QUIET)
    finally:
        os.umask(previous)
    for name in ("model.safetensors", "config.json", "config.yaml", "checkpoints/last.ckpt"):
        assert stat.S_IMODE((run / name).stat().st_mode) == 0o644, name
    assert not [p for p in run.rglob(".*.tmp*")]  # no temporary file left anywhere


def test_a_full_disk_while_logging_is_one_sentence_that_says_how_to_continue(tmp_path, monkeypatch):
    from lightning.fabric.loggers.csv_logs import _ExperimentWriter

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.metrics_file_path)

    monkeypatch.setattr(_ExperimentWriter, "save", full)
    with pytest.raises(UnweaveError, match=r"metrics\.csv \(No space.*continue it with --resume"):
        train(tiny_config(), tmp_path / "run", train_data=random_clips(), **QUIET)


def test_a_run_folder_under_a_file_is_refused_before_anything_is_loaded(tmp_path):
    (tmp_path / "runs").write_text("")
    with pytest.raises(UnweaveError, match=r"Run folder .* cannot be created: .*runs is a file"):
        train(tiny_config(), tmp_path / "runs" / "run", train_data=None, **QUIET)
