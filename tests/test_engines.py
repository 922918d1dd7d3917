"""Study engines on a real local Ray cluster (two nodes on loopback, one CPU each): cells
spread over both nodes, give the local engine's results, survive a lost node, and a second
call trains nothing; and the bad inputs of issue 20, each one sentence."""

from __future__ import annotations

import json
import sys
import threading
import time

import pytest

from unweave import study
from unweave.engines import RayEngine
from unweave.errors import UnweaveError

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

#: A tiny judged study: 2 methods x 2 seeds on toy sprites of 16x16, one epoch each.
TINY = [
    "model.image_size=16", "model.base_channels=8", "data.options.size=16",
    "data.options.n_train=128", "data.options.n_test=128", "train.max_epochs=1",
    "train.batch_size=32",
]  # fmt: skip
METHODS = ["dbse", "skd"]


@pytest.fixture(scope="module")
def cluster():
    """A head and a worker node, one CPU each; shut down after the module."""
    cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    worker = cluster.add_node(num_cpus=1)
    yield cluster, worker
    ray.shutdown()
    cluster.shutdown()


def wait_then_record(seconds: float):
    """A cell's work for the engine tests: count the attempt, sleep, write the node."""

    def work(threads: int):
        def one(cell) -> None:
            cell.count_attempt()
            time.sleep(seconds)
            node = ray.get_runtime_context().get_node_id()
            (cell.out / f"{cell.name}.node").write_text(node)

        return one

    return work


def test_a_grid_names_each_cell_by_its_settings(tmp_path, monkeypatch):
    monkeypatch.setattr(study, "_check_settings", lambda *a: (study.KINDS["images"], study.COLUMNS))
    setup = study.setup_study(["a", "b"], [0], ["dsprites"], tmp_path, grid=["model.beta=1,4"])
    assert [c.name for c in setup.cells] == [
        "a-model.beta=1-seed0", "b-model.beta=1-seed0", "a-model.beta=4-seed0",
        "b-model.beta=4-seed0",
    ]  # fmt: skip
    assert setup.group_by == ("method", "model.beta")
    assert study.group_label(setup.cells[2], setup.group_by) == "a model.beta=4"


def test_bad_grids_and_foreign_folders_stop_before_anything_runs(tmp_path, monkeypatch):
    with pytest.raises(UnweaveError, match="--grid model.bta=1 for beta-vae: Unknown setting"):
        study.run_study(["beta-vae"], [0], "dsprites", tmp_path, grid=["model.bta=1,2"])
    with pytest.raises(UnweaveError, match="is not SECTION.KEY=V1,V2"):
        study.run_study(["beta-vae"], [0], "dsprites", tmp_path, grid=["beta"])
    with pytest.raises(UnweaveError, match="--group-by seed is not an axis"):
        study.run_study(["beta-vae"], [0], "dsprites", tmp_path, group_by=["seed"])
    folder = tmp_path / "runs" / "beta-vae-seed0"
    folder.mkdir(parents=True)
    other = {"method": "beta-vae", "data": "dsprites", "seed": 0, "settings": {"model.beta": "8"}}
    (folder / "cell.json").write_text(json.dumps(other))
    monkeypatch.setattr(study, "_run_one", lambda *a: pytest.fail("a cell started"))
    with pytest.raises(UnweaveError, match="holds the run of another cell"):
        study.run_study(["beta-vae"], [0], "dsprites", tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["cell.json"]  # untouched


def test_an_unreachable_ray_address_is_one_sentence(tmp_path):
    start = time.monotonic()
    with pytest.raises(UnweaveError, match=r"Ray cluster at 127.0.0.1:9 is unreachable"):
        study.run_study(
            ["beta-vae"], [0], "dsprites", tmp_path, engine="ray", address="127.0.0.1:9"
        )
    assert time.monotonic() - start < 30 and not (tmp_path / "runs").exists()


def test_run_cell_runs_one_cell_by_its_index(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(study, "_check_settings", lambda *a: (study.KINDS["images"], study.COLUMNS))
    monkeypatch.setattr(study, "_run_one", lambda cell, *a: ran.append(cell.name))
    settings = {"methods": ["a", "b"], "seeds": [0, 1], "data": "dsprites", "out": tmp_path}
    assert study.run_cell(3, **settings) == "b-seed1" and ran == ["b-seed1"]
    with pytest.raises(UnweaveError, match="--index is 4; this study has 4 cells"):
        study.run_cell(4, **settings)


def test_a_study_on_two_ray_nodes_equals_the_local_one_and_reruns_as_a_no_op(
    cluster, tmp_path, fresh_cache
):
    head, _ = cluster
    arguments = dict(methods=METHODS, seeds=[0, 1], data="toy-sprites", overrides=TINY)
    local = study.run_study(**arguments, out=tmp_path / "local", jobs=2)  # one thread each
    remote = study.run_study(**arguments, out=tmp_path / "ray", engine="ray", address=head.address)
    assert len(remote["runs"]) == 4

    def figures(table: dict) -> dict:  # all but the minutes of training, a wall-clock time
        return {g: {k: v for k, v in row.items() if "minutes" not in k} for g, row in table.items()}

    assert figures(remote["table"]) == figures(local["table"])
    for name, figures in local["runs"].items():
        assert remote["runs"][name] == figures, name
    logs = sorted((tmp_path / "ray" / "logs").glob("*.log"))
    before = [log.read_text() for log in logs]
    study.run_study(**arguments, out=tmp_path / "ray", engine="ray", address=head.address)
    assert [log.read_text() for log in logs] == before  # nothing trained or evaluated again


def test_cells_spread_over_both_nodes_and_a_lost_node_s_cells_run_again(cluster, tmp_path):
    head, worker = cluster  # the Cluster and its worker node
    engine = RayEngine(address=head.address)
    cells = [study.StudyRun("m", seed, tmp_path, "d") for seed in range(4)]
    running = [engine.running() for _ in engine.run(cells, wait_then_record(1.0))]
    assert running == [2, 2, 1, 0]  # after each of 4 cells: at most one per CPU (2)
    nodes = {(tmp_path / f"{c.name}.node").read_text() for c in cells}
    assert len(nodes) == 2  # both nodes ran cells
    slow = [study.StudyRun("slow", seed, tmp_path, "d") for seed in range(2)]
    threading.Timer(2.0, head.remove_node, args=(worker,)).start()
    results = list(engine.run(slow, wait_then_record(6.0)))
    assert len(results) == 2 and all(failure is None for _, failure, _ in results)
    assert max(attempts for _, _, attempts in results) == 2  # the lost node's cell, again
    assert len({(tmp_path / f"{c.name}.node").read_text() for c in slow}) == 1  # the head
