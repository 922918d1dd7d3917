"""Training end to end on tiny models: export, load, exact resume, errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from helpers import TINY_MODEL, random_clips
from lightning.pytorch.callbacks import Callback
from safetensors.torch import load_file

import unweave
from unweave.errors import UnweaveError
from unweave.training.config import merge, resolve
from unweave.training.run import train

QUIET = {"enable_progress_bar": False}


#: Tiny sizes of the models whose settings are not the sequential VAEs'.
TINY_SKD = ["model.image_size=16", "model.base_channels=8", "model.k_dim=8", "model.hidden_dim=8"]


def tiny_config(method: str = "dbse", epochs: int = 2, extra: tuple[str, ...] = ()) -> dict:
    sizes = TINY_SKD if method == "skd" else TINY_MODEL
    overrides = [*sizes, f"train.max_epochs={epochs}", "train.batch_size=16", *extra]
    if method in ("dsvae", "c-dsvae", "spyl", "s3vae"):
        overrides.append("model.hidden_dim=16")
    return resolve(method, "toy-sprites", "cpu", overrides=overrides)


@pytest.mark.parametrize("method", ["dbse", "dsvae", "c-dsvae", "spyl", "skd", "s3vae"])
def test_run_folder_and_load_round_trip(tmp_path, method):
    data = random_clips()
    run = train(tiny_config(method), tmp_path / "run", train_data=data, **QUIET)
    for name in ("config.yaml", "env.json", "model.safetensors", "config.json", "metrics.csv"):
        assert (run / name).exists(), name
    assert (run / "checkpoints" / "last.ckpt").exists()
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    model = unweave.load(run).model
    assert model.name == method and not model.training
    state = load_file(str(run / "model.safetensors"))
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    x = torch.rand(2, 8, 3, 16, 16)
    assert model.swap(x, x).shape == x.shape


@pytest.mark.parametrize("method", ["dbse", "skd"])  # skd: its running Koopman matrix too
def test_resume_continues_as_if_never_stopped(tmp_path, method):
    data = random_clips()
    config = tiny_config(method, epochs=3)
    train(config, tmp_path / "straight", train_data=data, **QUIET)
    train(
        merge(config, {"train": {"max_epochs": 1}}), tmp_path / "stopped", train_data=data, **QUIET
    )
    train(config, tmp_path / "stopped", resume=True, train_data=data, **QUIET)
    # The loss history survives the resume: the same rows as the uninterrupted run's.
    straight, stopped = (
        (tmp_path / run / "metrics.csv").read_text().splitlines() for run in ("straight", "stopped")
    )
    assert len(straight) > 2 and stopped == straight
    train(config, tmp_path / "stopped", resume=True, train_data=data, **QUIET)  # finished
    assert (tmp_path / "stopped" / "metrics.csv").read_text().splitlines() == straight
    a = load_file(str(tmp_path / "straight" / "model.safetensors"))
    b = load_file(str(tmp_path / "stopped" / "model.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


class Crash(Callback):
    """Kills the run at the start of epoch ``epoch``, as a crash or a kill would."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, module) -> None:
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("simulated crash")


def test_a_run_killed_mid_way_resumes_from_its_last_epoch(tmp_path):
    data = random_clips()
    config = tiny_config(epochs=4)
    train(config, tmp_path / "straight", train_data=data, **QUIET)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config, tmp_path / "killed", train_data=data, extra_callbacks=[Crash(2)], **QUIET)
    last = tmp_path / "killed" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 1  # written after epochs 0 and 1
    assert [p.name for p in last.parent.iterdir()] == ["last.ckpt"]
    train(config, tmp_path / "killed", resume=True, train_data=data, **QUIET)
    a = load_file(str(tmp_path / "straight" / "model.safetensors"))
    b = load_file(str(tmp_path / "killed" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_existing_run_is_not_overwritten(tmp_path):
    data = random_clips()
    train(tiny_config(epochs=1), tmp_path / "run", train_data=data, **QUIET)
    with pytest.raises(UnweaveError, match="already holds a run; pass --resume"):
        train(tiny_config(epochs=1), tmp_path / "run", train_data=data, **QUIET)


def test_corrupt_checkpoint_is_one_clear_sentence(tmp_path):
    data = random_clips()
    run = train(tiny_config(epochs=1), tmp_path / "run", train_data=data, **QUIET)
    last = run / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])
    with pytest.raises(UnweaveError, match=r"Checkpoint .*last\.ckpt is unreadable"):
        train(tiny_config(epochs=2), run, resume=True, train_data=data, **QUIET)


def test_corrupt_or_missing_export_is_one_clear_sentence(tmp_path):
    data = random_clips()
    run = train(tiny_config(epochs=1), tmp_path / "run", train_data=data, **QUIET)
    (run / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(UnweaveError, match="model.safetensors is not a readable safetensors file"):
        unweave.load(run)
    (run / "config.json").unlink()
    with pytest.raises(UnweaveError, match="config.json is missing"):
        unweave.load(run)
    with pytest.raises(UnweaveError, match="does not exist"):
        unweave.load(tmp_path / "nowhere")


def test_batch_larger_than_data_is_refused_before_writing(tmp_path):
    config = tiny_config(extra=("train.batch_size=64",))
    with pytest.raises(UnweaveError, match="fewer than train.batch_size=64"):
        train(config, tmp_path / "run", train_data=random_clips(n=20), **QUIET)
    assert not (tmp_path / "run").exists()


def test_tiny_dbse_learns_to_reconstruct(tmp_path):
    """A stated target: 30 epochs on 96 structured clips bring the MSE well below a blank guess."""
    rng = np.random.default_rng(0)
    data = random_clips(n=96)
    # Structured clips: a coloured square moving right over 8 frames.
    x = np.zeros_like(data.x)
    for i in range(len(x)):
        colour = rng.integers(80, 256, 3)
        for t in range(8):
            x[i, t, :, 4:9, t + 2 : t + 7] = colour[:, None, None]
    data.x = x
    run = train(
        tiny_config(epochs=30, extra=("optim.lr=0.005",)), tmp_path / "r", train_data=data, **QUIET
    )
    model = unweave.load(run).model
    frames = torch.from_numpy(x).float() / 255
    with torch.no_grad():
        latents = model.encode(frames)
        mse = float(
            (model.decode(latents.static.mean, latents.dynamic.mean) - frames).pow(2).mean()
        )
    baseline = float(frames.pow(2).mean())  # predicting black everywhere
    assert mse < 0.25 * baseline


def test_compiled_loss_and_gradients_equal_eager(monkeypatch):
    """train.compile: on a batch, the compiled loss and its gradients equal eager ones within
    float tolerance (random draws made as eager makes them)."""
    import torch._inductor.config as inductor

    from unweave.training.module import build_module

    monkeypatch.setattr(inductor, "fallback_random", True)
    module = build_module(tiny_config(extra=("train.compile=true",)))
    assert module.loss is not module.model.loss
    x = torch.rand(4, 8, 3, 16, 16)
    results = []
    for loss in (module.loss, module.model.loss):
        torch.manual_seed(3)
        terms = loss(x)
        module.zero_grad()
        terms["loss"].backward()
        results.append((terms, [p.grad.clone() for p in module.parameters()]))
    (compiled, compiled_grads), (eager, eager_grads) = results
    for key, value in eager.items():
        torch.testing.assert_close(compiled[key], value, rtol=1e-4, atol=1e-3)
    for a, b in zip(compiled_grads, eager_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)


def test_cosine_schedule_decays_the_rate_to_zero_over_the_run(tmp_path):
    config = tiny_config(epochs=2, extra=("optim.schedule=cosine", "optim.lr=0.004"))
    run = train(config, tmp_path / "run", train_data=random_clips(n=64), **QUIET)
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    schedule = checkpoint["lr_schedulers"][0]
    assert schedule["T_max"] == 8 and schedule["last_epoch"] == 8  # 2 epochs x 4 batches
    assert schedule["_last_lr"][0] == pytest.approx(0.0, abs=1e-9)


def test_bf16_mixed_precision_trains_to_finite_weights(tmp_path):
    config = tiny_config(epochs=1, extra=("trainer.precision=bf16-mixed",))
    run = train(config, tmp_path / "run", train_data=random_clips(n=32), **QUIET)
    state = load_file(str(run / "model.safetensors"))
    floats = [v for v in state.values() if v.is_floating_point()]
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in floats)


def test_compile_is_refused_for_models_with_their_own_loop():
    with pytest.raises(UnweaveError, match="train.compile is not available for factor-vae"):
        resolve("factor-vae", "dsprites", "cpu", overrides=["train.compile=true"])


def test_a_nan_loss_stops_training_and_keeps_the_last_finite_checkpoint(tmp_path, monkeypatch):
    """A loss term turning NaN in epoch 2 stops the run with one sentence naming the step
    and the term; epoch 1's checkpoint stays, finite, and no model is exported."""
    from unweave.models.dbse import DBSE
    from unweave.training.guards import NonFiniteTraining

    calls = {"n": 0}
    loss = DBSE.loss

    def spoiled(self, x):
        terms = loss(self, x)
        calls["n"] += 1
        if calls["n"] > 6:  # a check before training, then 4 batches an epoch: step 6, epoch 2
            terms["sse_seq"] = terms["sse_seq"] * float("nan")
            terms["loss"] = terms["loss"] + terms["sse_seq"]
        return terms

    monkeypatch.setattr(DBSE, "loss", spoiled)
    run = tmp_path / "run"
    with pytest.raises(
        NonFiniteTraining,
        match=r"step 6 \(epoch 2\): the loss is nan \(non-finite terms: sse_seq\)",
    ):
        train(tiny_config(epochs=3), run, train_data=random_clips(n=64), **QUIET)
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 4
    assert all(torch.isfinite(v).all() for v in checkpoint["state_dict"].values())
    assert not (run / "model.safetensors").exists()


def test_a_huge_rate_is_stopped_with_one_sentence(tmp_path):
    with pytest.raises(UnweaveError, match=r"Training stopped at step \d+ .*not finite|loss is"):
        train(
            tiny_config(epochs=3, extra=("optim.lr=1e9",)),
            tmp_path / "run",
            train_data=random_clips(n=64),
            **QUIET,
        )
    assert not (tmp_path / "run" / "model.safetensors").exists()


@pytest.mark.parametrize("resume", [False, True])
def test_a_run_stopped_before_its_first_checkpoint_starts_over(tmp_path, monkeypatch, resume):
    """A run folder with a config and no checkpoint (stopped by a NaN at step 1) is not
    stuck: training it again, with or without --resume, starts it from the beginning."""
    from unweave.models.dbse import DBSE

    run = tmp_path / "run"
    loss = DBSE.loss
    with monkeypatch.context() as patch:
        patch.setattr(DBSE, "loss", lambda self, x: {"loss": loss(self, x)["loss"] * np.nan})
        with pytest.raises(UnweaveError, match="step 1 .*no checkpoint had been written yet"):
            train(tiny_config(), run, train_data=random_clips(), **QUIET)
    assert (run / "config.yaml").exists() and not (run / "checkpoints" / "last.ckpt").exists()
    train(tiny_config(epochs=1), run, resume=resume, train_data=random_clips(), **QUIET)
    assert (run / "model.safetensors").exists()
    with pytest.raises(UnweaveError, match="does not exist; train without --resume"):
        train(tiny_config(), tmp_path / "empty", resume=True, train_data=random_clips(), **QUIET)


def test_resume_refuses_a_setting_the_checkpoint_cannot_take(tmp_path):
    data = random_clips()
    config = tiny_config(epochs=1)
    train(config, tmp_path / "run", train_data=data, **QUIET)
    faster = merge(config, {"optim": {"lr": 0.5}})
    with pytest.raises(UnweaveError, match=r"--resume cannot change optim\.lr \(0\.006 -> 0\.5\)"):
        train(faster, tmp_path / "run", resume=True, train_data=data, **QUIET)
    longer = merge(config, {"train": {"max_epochs": 2}})  # a longer run is a resume's purpose
    train(longer, tmp_path / "run", resume=True, train_data=data, **QUIET)


def test_checkpoints_are_kept_at_the_chosen_steps_with_their_training_time(tmp_path):
    from unweave.training.milestones import checkpoint_seconds, kept_checkpoints
    from unweave.training.run import training_seconds

    data = random_clips()  # 3 steps per epoch
    config = tiny_config(epochs=3, extra=("train.keep_checkpoints_at=[2,5,100]",))
    run = train(config, tmp_path / "run", train_data=data, **QUIET)
    kept = kept_checkpoints(run / "checkpoints")
    assert list(kept) == [2, 5]
    states = [torch.load(kept[step], weights_only=True) for step in (2, 5)]
    assert [s["global_step"] for s in states] == [2, 5]
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    seconds = [checkpoint_seconds(s) for s in (*states, last)]
    assert 0 < seconds[0] < seconds[1] < seconds[2]
    assert training_seconds(run) == seconds[2] and training_seconds(tmp_path) is None
    # Its checkpoints deleted (a study keeps figures, not weights), the run's record remains.
    recorded = json.loads((run / "training.json").read_text())
    assert recorded["global_step"] == 9 and recorded["seconds"] == seconds[2]
    shutil.rmtree(run / "checkpoints")
    assert training_seconds(run) == recorded["seconds"]
    # Stopped after one epoch and resumed: the same steps are kept, and the clock goes on.
    stopped = merge(config, {"train": {"max_epochs": 1}})
    train(stopped, tmp_path / "resumed", train_data=data, **QUIET)
    first = checkpoint_seconds(
        torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=True)
    )
    train(config, tmp_path / "resumed", resume=True, train_data=data, **QUIET)
    resumed = tmp_path / "resumed" / "checkpoints"
    assert list(kept_checkpoints(resumed)) == [2, 5]
    assert checkpoint_seconds(torch.load(resumed / "step-5.ckpt", weights_only=True)) > first


def test_a_run_without_kept_checkpoints_resumes_with_some(tmp_path):
    data = random_clips()
    config = tiny_config(epochs=1)
    run = train(config, tmp_path / "run", train_data=data, **QUIET)
    longer = merge(config, {"train": {"max_epochs": 2, "keep_checkpoints_at": [4]}})
    train(longer, run, resume=True, train_data=data, **QUIET)
    assert [p.name for p in sorted((run / "checkpoints").iterdir())] == ["last.ckpt", "step-4.ckpt"]
