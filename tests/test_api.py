"""The Python API: the README's notebook session runs as written, and its pieces behave."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import unweave
from unweave.errors import UnweaveError, UnweaveWarning

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_session() -> str:
    """The Python block of the README's 'From Python' section."""
    section = README.read_text().split("### From Python")[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_session_fits_evaluates_swaps_and_reports(tmp_path, monkeypatch):
    code = readme_session()
    assert len(code.strip().splitlines()) < 20
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, str(README), "exec"), scope)
    figures, codes, swapped = scope["figures"], scope["codes"], scope["swapped"]
    assert figures["probe/static->level"] >= 0.95  # the README says 1.00
    assert figures["probe/dynamic->level"] <= 0.6  # chance 0.4; the README says 0.43
    assert codes["static"].shape == (40, 8) and codes["dynamic"].shape == (40, 6, 8)
    assert swapped.shape == (4, 48, 3)
    report = (tmp_path / "runs/waves/report.html").read_text()
    assert 'id="swap-grid"' in report and "static-&gt;level" in report
    again = unweave.load(tmp_path / "runs/waves")  # the run, from its folder, as any run
    assert np.allclose(again.encode()["static"], codes["static"], atol=1e-5)
    assert sorted(p.name for p in (tmp_path / "runs/waves/data").iterdir()) == [
        "test.npz",
        "train.npz",
    ]
    model_figures = unweave.evaluate(
        again.model, "series-npz", metrics="probes", root=tmp_path / "runs/waves/data"
    )
    assert model_figures["probe/static->level"] == figures["probe/static->level"]
    (tmp_path / "runs/waves/eval.json").write_text("[1, 2]")  # damaged: set aside, said so
    with pytest.warns(UnweaveWarning, match="eval.json was damaged"):
        again.evaluate(metrics="probes")
    assert (tmp_path / "runs/waves/eval.json.damaged").read_text() == "[1, 2]"


def test_settings_take_both_spellings_and_bad_ones_are_one_sentence(tmp_path):
    from unweave.api import _overrides

    assert _overrides({"model__f_dim": 16, "train": {"max_epochs": 2}}) == {
        "model": {"f_dim": 16},
        "train": {"max_epochs": 2},
    }
    with pytest.raises(UnweaveError, match="Setting 'f_dim' names no section"):
        _overrides({"f_dim": 16})
    x = np.zeros((10, 50, 2), np.float32)
    with pytest.raises(UnweaveError, match="50 steps do not split into windows of 24"):
        unweave.fit("dbse", x, run_dir=tmp_path / "run")
    with pytest.raises(UnweaveError, match=r"Arrays of shape \(10, 50\): expected series"):
        unweave.fit("dbse", x[..., 0], run_dir=tmp_path / "run")
    with pytest.raises(UnweaveError, match="Unknown setting 'model.fdim'"):
        unweave.fit("dbse", x[:, :48], run_dir=tmp_path / "run", model__fdim=3)
    # Training refuses the data once it loads them: what fit wrote goes again.
    with pytest.raises(UnweaveError, match="gives 5 training items, fewer than train.batch_size"):
        unweave.fit("dbse", x[:, :48], run_dir=tmp_path / "run", test_fraction=0.5)
    assert not (tmp_path / "run").exists()  # nothing half-written


def test_fit_never_writes_arrays_into_a_finished_run(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.safetensors").write_bytes(b"weights")
    with pytest.raises(UnweaveError, match="already holds a run; pass --resume"):
        unweave.fit("dbse", np.zeros((10, 48, 2), np.float32), run_dir=tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["model.safetensors"]


def test_npz_files_are_read_without_pickles_and_checked(tmp_path):
    from unweave.data.arrays import save_arrays
    from unweave.data.registry import load_data

    save_arrays(tmp_path, "train", np.arange(24.0).reshape(2, 4, 3), static={"a": [0, 1]})
    save_arrays(tmp_path, "test", np.ones((1, 4, 3)), static={"a": [1]})
    train = load_data("series-npz", "train", tmp_path)
    assert np.allclose(train.x.mean((0, 1)), 0, atol=1e-6) and train.static["a"].tolist() == [0, 1]
    np.savez(tmp_path / "test.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(UnweaveError, match="test.npz is not a readable npz file without pickles"):
        load_data("series-npz", "test", tmp_path)
    np.savez(tmp_path / "test.npz", x=np.ones((1, 5, 3)))
    with pytest.raises(UnweaveError, match=r"expected \(N, 4, 3\) like train.npz"):
        load_data("series-npz", "test", tmp_path)
    np.savez(tmp_path / "test.npz", x=np.ones((1, 4, 3)), static_a=np.array([0.5]))
    with pytest.raises(UnweaveError, match="'static_a' is float64; expected integer labels"):
        load_data("series-npz", "test", tmp_path)


def test_clips_as_npz_carry_their_labels_and_factor_sizes(tmp_path):
    from unweave.data.arrays import save_arrays
    from unweave.data.registry import load_data

    clips = np.zeros((3, 4, 3, 8, 8), np.uint8)
    save_arrays(tmp_path, "train", clips, static={"colour": [0, 1, 1]}, dynamic={"move": [0, 0, 2]})
    save_arrays(tmp_path, "test", clips[:1], static={"colour": [4]}, dynamic={"move": [1]})
    test = load_data("video-npz", "test", tmp_path)
    assert test.factor_sizes == {"colour": 5, "move": 3} and test.static["colour"].tolist() == [4]
    save_arrays(tmp_path, "test", clips[:1].astype(np.float32))
    with pytest.raises(UnweaveError, match=r"expected uint8 \(N, T, C, H, W\)"):
        load_data("video-npz", "test", tmp_path)


def test_an_export_is_the_hub_layout_and_loads_from_its_folder(tmp_path, monkeypatch, capsys):
    from helpers import TINY_MODEL, random_clips
    from test_curves_cli import invoke

    from unweave.training.config import resolve
    from unweave.training.run import train

    config = resolve("dbse", "toy-sprites", "cpu", overrides=[*TINY_MODEL, "train.max_epochs=1"])
    run = train(config, tmp_path / "run", train_data=random_clips(), enable_progress_bar=False)
    (run / "eval.json").write_text('{"probe/static->colour": 0.875}')
    code, _ = invoke(capsys, monkeypatch, "export", str(run), "--out", str(tmp_path / "hub"))
    assert code == 0
    hub = tmp_path / "hub"
    assert sorted(p.name for p in hub.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    card = (hub / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: unweave\n")
    assert (
        "| `probe/static->colour` | 0.875 |" in card and f'unweave.load("{hub.as_posix()}")' in card
    )
    loaded = unweave.load(hub).model
    original = unweave.load(run).model
    for (name, a), b in zip(
        loaded.state_dict().items(), original.state_dict().values(), strict=True
    ):
        assert (a == b).all(), name
    code, err = invoke(capsys, monkeypatch, "export", str(run), "--out", str(run))
    assert code == 2 and "is the run folder itself" in err


def test_dataset_arrays_stacks_each_kind_of_item_and_refuses_others():
    from torch.utils.data import IterableDataset, TensorDataset

    from unweave.data.arrays import dataset_arrays

    x, y = torch.randn(5, 4, 2), torch.arange(5)
    plain = dataset_arrays(TensorDataset(x), batch_size=2)  # items are 1-tuples
    assert np.allclose(plain["x"], x.numpy()) and plain["static"] == {} and plain["mask"] is None
    pairs = dataset_arrays(TensorDataset(x, y), batch_size=2)
    assert np.allclose(pairs["x"], x.numpy()) and pairs["static"]["label"].tolist() == [
        0,
        1,
        2,
        3,
        4,
    ]
    items = [
        {"x": x[i], "static_site": i % 2, "dynamic_phase": torch.arange(4) % 2} for i in range(5)
    ]
    named = dataset_arrays(items, batch_size=3)  # a list is a map-style dataset
    assert named["static"]["site"].tolist() == [0, 1, 0, 1, 0]
    assert named["dynamic"]["phase"].shape == (5, 4) and named["mask"] is None
    assert dataset_arrays([x[i].numpy() for i in range(5)])["x"].shape == (5, 4, 2)

    class Stream(IterableDataset):
        def __iter__(self):
            yield from x

    with pytest.raises(UnweaveError, match="Stream has no length; unweave.fit takes a map-style"):
        dataset_arrays(Stream())
    with pytest.raises(
        UnweaveError, match=r"items are tuples of 3; expected x, \(x,\) or \(x, label\)"
    ):
        dataset_arrays(TensorDataset(x, y, y))
    with pytest.raises(UnweaveError, match=r"keys \['site', 'x'\]; expected 'x' and optionally"):
        dataset_arrays([{"x": x[0], "site": 1}])
    with pytest.raises(UnweaveError, match="The list is empty"):
        dataset_arrays([])


def test_fit_takes_a_torch_dataset_and_keeps_its_labels(tmp_path):
    from torch.utils.data import TensorDataset

    rng = np.random.default_rng(0)
    level = rng.integers(0, 3, 40)
    x = level[:, None, None] + 0.1 * rng.standard_normal((40, 16, 2))
    data = TensorDataset(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(level))
    run = unweave.fit(
        "dbse", data, run_dir=tmp_path / "run", model__window=8, train__max_epochs=1,
        train__batch_size=8, model__f_dim=4, model__z_dim=4,
    )  # fmt: skip
    with np.load(tmp_path / "run/data/train.npz", allow_pickle=False) as train:
        assert train["x"].shape == (32, 16, 2) and sorted(train) == ["static_label", "x"]
    assert run.encode()["static"].shape == (8, 4)
