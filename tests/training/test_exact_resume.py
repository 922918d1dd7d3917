"""Each kind of training loop (plain, FactorVAE's two optimisers, DiD's critic schedule,
Two-Step's two steps, FHVAE's blocks): a run killed mid-epoch and resumed ends with the same
weights, bit for bit, as one never stopped; the first NaN stops it with the last checkpoint
finite."""

from __future__ import annotations

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from safetensors.torch import load_file

from unweave.data import dsprites
from unweave.data.registry import load_data
from unweave.training.config import resolve
from unweave.training.guards import NonFiniteTraining
from unweave.training.run import LAST_CHECKPOINT, train

QUIET = {"enable_progress_bar": False}
TINY_GRID = (1, 3, 2, 3, 4, 5)  # 360 dSprites images: 22 batches of 16 per epoch

#: (method, data, settings): one tiny step-checkpointed run per kind of training loop.
LOOPS = {
    "plain": ("beta-vae", "dsprites", ["train.batch_size=16"]),
    "factor-vae": ("factor-vae", "dsprites", ["train.batch_size=16"]),
    "did": ("did", "dsprites", ["train.batch_size=16"]),
    "two-step": (
        "two-step",
        "phonenums",
        [
            "data.options.n_pages=40",
            "model.nf=4",
            "model.encoder_dense=16",
            "model.step1_epochs=1",
            "train.batch_size=16",
        ],
    ),
    "fhvae": (  # a block of sequences per epoch, its mu2 rows set at the epoch's start
        "fhvae",
        "synthetic-speech",
        ["data.options.n_speakers=3", "data.options.utterances_per_speaker=4"]
        + ["model.rnn_size=16", "model.z1_dim=4", "model.z2_dim=4", "model.n_mu2=4"]
        + ["train.batch_size=4"],
    ),
}


def two_epochs(loop: str, monkeypatch, *extra: str) -> tuple[dict, object]:
    """The config of a two-epoch run of ``loop`` (with ``extra`` settings) and its data."""
    monkeypatch.setattr(dsprites, "FACTOR_SIZES", TINY_GRID)
    monkeypatch.setattr(dsprites, "BLOCK", 64)
    method, data_name, settings = LOOPS[loop]
    overrides = [*settings, "train.max_epochs=2", "train.max_steps=-1", *extra]
    config = resolve(method, data_name, "cpu", overrides=overrides)
    return config, load_data(data_name, "train", **config["data"]["options"])


class KillAt(Callback):
    """Stops the run as ``kill -9`` would, before the training step of batch ``batch`` of
    epoch ``epoch`` (nothing after the last checkpoint is kept)."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch = epoch, batch

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            raise RuntimeError("killed")


@pytest.mark.parametrize("loop", LOOPS)
def test_a_run_killed_mid_epoch_resumes_bit_exactly(loop, tmp_path, monkeypatch, fresh_cache):
    config, data = two_epochs(
        loop, monkeypatch, "train.checkpoint_every_n_steps=3", "train.log_every_n_steps=2"
    )
    train(config, tmp_path / "straight", train_data=data, **QUIET)
    # Killed in the second epoch, a batch after a checkpoint: the resumed run must skip the
    # batches the checkpoint had consumed and draw the same noise as the straight run.
    killed = tmp_path / "killed"
    with pytest.raises(RuntimeError, match="killed"):
        train(config, killed, train_data=data, extra_callbacks=[KillAt(1, 4)], **QUIET)
    state = torch.load(killed / LAST_CHECKPOINT, weights_only=True)
    position = state["loops"]["fit_loop"]["state_dict"]["combined_loader"][0]
    assert state["epoch"] == 1 and 0 < position["batches"] <= 4, position
    train(config, killed, resume=True, train_data=data, **QUIET)
    a = load_file(str(tmp_path / "straight" / "model.safetensors"))
    b = load_file(str(killed / "model.safetensors"))
    assert a.keys() == b.keys()
    differing = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differing, differing


class SpoilWeights(Callback):
    """Sets the model's first trained weight to NaN before batch 2 of epoch 1 (after a
    checkpoint), as a diverging update would."""

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if trainer.current_epoch == 1 and batch_idx == 2:
            with torch.no_grad():
                trained = (p for p in module.model.parameters() if p.requires_grad)
                next(trained).fill_(float("nan"))


@pytest.mark.parametrize("loop", LOOPS)
def test_every_loop_stops_at_the_first_nan_and_keeps_its_finite_checkpoint(
    loop, tmp_path, monkeypatch, fresh_cache
):
    config, data = two_epochs(loop, monkeypatch, "train.checkpoint_every_n_steps=1")
    run = tmp_path / "run"
    with pytest.raises(NonFiniteTraining, match=r"Training stopped at step \d+ \(epoch 2\)"):
        train(config, run, train_data=data, extra_callbacks=[SpoilWeights()], **QUIET)
    state = torch.load(run / LAST_CHECKPOINT, weights_only=True)["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    assert not (run / "model.safetensors").exists()
