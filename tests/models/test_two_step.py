"""Two-Step: sizes, codes, losses, the step-2 schedule, the freeze of S, and a toy run."""

from __future__ import annotations

import copy
import dataclasses

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from unweave.data.fragments import FragmentData
from unweave.errors import UnweaveError
from unweave.models.two_step import (
    SPRITES_SETTINGS,
    SingleFragments,
    TwoStep,
    TwoStepConfig,
    TwoStepModule,
    encoder_update_due,
    keras_cross_entropy,
)
from unweave.training.datamodule import SequenceDataModule

#: 3x3 strokes placed in a 6x6 box: a horizontal bar, a vertical bar, a plus.
SHAPES = np.zeros((3, 6, 6), np.float32)
SHAPES[0, 2:4, :] = 1
SHAPES[1, :, 2:4] = 1
SHAPES[2] = np.maximum(SHAPES[0], SHAPES[1])
BRIGHTNESS = np.array([0.4, 0.7, 1.0], np.float32)


def toy_shapes(n_samples: int, n: int = 4, size: int = 16, seed: int = 0) -> FragmentData:
    """Samples of ``n`` fragments: content = the shape (3), style = the sample's brightness (3);
    each shape sits at a random position (a nuisance)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n_samples, n, 1, size, size), np.float32)
    content = rng.integers(0, 3, (n_samples, n))
    style = rng.integers(0, 3, n_samples)
    for i in range(n_samples):
        for j in range(n):
            r, c = rng.integers(0, size - 5, 2)
            x[i, j, 0, r : r + 6, c : c + 6] = SHAPES[content[i, j]] * BRIGHTNESS[style[i]]
    return FragmentData(x=x, content=content, style=style, name="toy-shapes", split="train")


def tiny(**settings) -> TwoStepConfig:
    values = {
        "height": 16,
        "width": 16,
        "n_classes": 3,
        "nf": 8,
        "s_dim": 4,
        "z_dim": 4,
        "hidden": 16,
        "encoder_dense": 32,
        **settings,
    }
    return TwoStepConfig.from_dict(values)


def module_for(config: TwoStepConfig, data: FragmentData) -> TwoStepModule:
    """The training module of a run with these model settings, standardised by ``data``."""
    module = TwoStepModule({"model": dataclasses.asdict(config)})
    module.model.prepare_for_data(data)
    return module


def loader(model: TwoStep, data: FragmentData, images_per_batch: int) -> DataLoader:
    """Shuffled (seeded) batches of the model's training items (single fragments), the last
    incomplete one dropped, as in training."""
    generator = torch.Generator().manual_seed(0)
    dataset, collate = model.training_items(data)
    return DataLoader(
        dataset,
        images_per_batch,
        shuffle=True,
        drop_last=True,
        generator=generator,
        collate_fn=collate,
    )


def trainer(epochs: int, callbacks: list | None = None) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks or [],
    )


def test_mnist_sizes_match_the_reference_model() -> None:
    """Trainable parameters of DisAdvNet2 at the MNIST settings, counted by hand: each encoder
    has convs 416 + 3,208 + 1,608, Dense256 100,608 + BN 512, and a head (S 2,570, Z 4,112);
    decoder 10,584 + 1,608 + 1,608 + 3,216 + 401; adversary 1,088 + 2 x 4,160 + 3 BN x 128 +
    650; S-classifier 704 + 4,160 + 2 BN x 128 + 650."""
    model = TwoStep(TwoStepConfig())
    count = {
        name: sum(p.numel() for p in part.parameters()) for name, part in model.named_children()
    }
    assert count == {
        "s_encoder": 108_922,
        "s_classifier": 5_770,
        "z_encoder": 110_464,
        "decoder": 17_417,
        "adversary": 10_442,
    }


@pytest.mark.parametrize("settings", [{}, SPRITES_SETTINGS])
def test_shapes_and_non_negative_deterministic_codes(settings: dict, one_thread) -> None:
    config = TwoStepConfig.from_dict(settings)
    torch.manual_seed(0)
    model = TwoStep(config).eval()
    x = torch.rand(3, config.in_channels, config.height, config.width)
    s, z = model.encode_s(x), model.encode_z(x)
    assert s.shape == (3, config.s_dim) and z.shape == (3, config.z_dim)
    assert (s >= 0).all() and (z >= 0).all()
    latents = model.encode(x)
    assert torch.equal(latents.static.sample(), s) and torch.equal(latents.dynamic.sample(), z)
    assert model.decode(z, s).shape == x.shape
    assert model.swap(x, x.flip(0)).shape == x.shape
    if config.recon_loss == "bce":
        assert ((model.decode(z, s) > 0) & (model.decode(z, s) < 1)).all()


def test_standardisation_is_applied_to_inputs_and_undone_on_outputs() -> None:
    torch.manual_seed(0)
    model = TwoStep(tiny()).eval()
    model.set_pixel_statistics(0.25, 2.0)
    x = torch.rand(2, 1, 16, 16)
    assert torch.allclose(model.encode_s(x), model.s_encoder((x - 0.25) / 2.0))
    z, s = torch.rand(2, 4), torch.rand(2, 4)
    assert torch.allclose(model.decode(z, s), model.decoder(z, s) * 2.0 + 0.25)


def test_keras_cross_entropy_is_clipped_with_no_gradient_beyond() -> None:
    logits = torch.tensor([[40.0, -40.0], [0.0, 0.0]], requires_grad=True)
    labels = torch.tensor([1, 0])
    loss = keras_cross_entropy(logits, labels)
    assert loss.item() == pytest.approx((-np.log(1e-7) + np.log(2)) / 2, rel=1e-5)
    loss.backward()
    assert torch.equal(logits.grad[0], torch.zeros(2))  # the clipped row gives no gradient
    assert logits.grad[1].abs().sum() > 0


def test_losses_and_their_terms() -> None:
    torch.manual_seed(0)
    model = TwoStep(tiny())
    x, y = torch.rand(6, 1, 16, 16), torch.tensor([0, 1, 2, 0, 1, 2])
    step1 = model.classifier_loss(x, y)
    assert step1["loss"].requires_grad and not step1["ce_s"].requires_grad
    step2 = model.loss(x, y)
    expected = 5.0 * step2["rec"] - 1.0 * step2["ce_adv"]
    assert torch.allclose(step2["loss"], expected)
    step2["loss"].backward()
    assert all(p.grad is None for p in model.s_encoder.parameters())  # S gets no gradient
    assert all(p.grad is not None for p in model.z_encoder.parameters())
    with pytest.raises(UnweaveError, match=r"labels of shape \(6,\) in \[0, 3\)"):
        model.classifier_loss(x, torch.tensor([0, 1, 2, 3, 0, 0]))
    with pytest.raises(UnweaveError, match=r"images of shape \(B, 1, 16, 16\)"):
        model.encode_z(torch.rand(2, 3, 16, 16))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"heigth": 16}, "Did you mean 'model.height'"),
        ({"height": 18}, "multiple of 4"),
        ({"w_adv": 1.0}, "w_adv is 1.0"),
        ({"recon_loss": "l1"}, "recon_loss is 'l1'"),
        ({"nf": 3}, "nf is 3"),
    ],
)
def test_config_errors_name_the_setting(settings: dict, message: str) -> None:
    with pytest.raises(UnweaveError, match=message):
        TwoStepConfig.from_dict(settings)


def test_batches_become_labelled_images_and_pixels_are_standardised() -> None:
    data = toy_shapes(5)
    dataset, collate = TwoStep(tiny()).training_items(data)
    assert isinstance(dataset, SingleFragments) and len(dataset) == 5 * 4
    rows = [1, 14, 7]  # fragment 1 of sample 0, fragment 2 of sample 3, fragment 3 of sample 1
    x, labels = TwoStep(tiny()).batch_inputs(collate([dataset[i] for i in rows]))
    assert x.shape == (3, 1, 16, 16) and torch.equal(x[1], torch.from_numpy(data.x[3, 2]))
    np.testing.assert_array_equal(
        labels, [data.content[0, 1], data.content[3, 2], data.content[1, 3]]
    )
    _, styles = TwoStep(tiny(label="style")).batch_inputs(collate([dataset[i] for i in rows]))
    np.testing.assert_array_equal(styles, data.style[[0, 3, 1]])
    model = TwoStep(tiny())
    model.prepare_for_data(data)
    assert model.pixel_mean.item() == pytest.approx(float(data.x.mean()), rel=1e-5)
    assert model.pixel_std.item() == pytest.approx(float(data.x.std()), rel=1e-5)
    with pytest.raises(UnweaveError, match="label is 'colour'"):
        tiny(label="colour")


def test_content_style_codes_follow_the_label() -> None:
    torch.manual_seed(0)
    x = torch.rand(2, 4, 1, 16, 16)
    for label in ("content", "style"):
        model = TwoStep(tiny(label=label, s_dim=3, z_dim=5)).eval()
        content, style, atoms = model.content_style_codes(x)
        s, z = model.encode_s(x.flatten(0, 1)), model.encode_z(x.flatten(0, 1))
        expected = (s, z) if label == "content" else (z, s)
        assert torch.equal(content, expected[0]) and torch.equal(style, expected[1])
        assert atoms is None


def test_schedule_rule_matches_the_reference_counters() -> None:
    """DisAdvNet2.train: trainDistEpoch starts at dilutedDistEpoch - 1 and trainDist at
    diluteDist, so epochs 0, 4, ... and batches 0, 4, ... update the encoder."""
    config = TwoStepConfig()
    due = [(e, b) for e in range(9) for b in range(9) if encoder_update_due(e, b, config)]
    assert due == [(e, b) for e in (0, 4, 8) for b in (0, 4, 8)]


class Recorder(pl.Callback):
    """Records where each optimiser stepped, and the weights after step 1 and at the start."""

    def __init__(self) -> None:
        self.steps: dict[str, list[tuple[int, int]]] = {"s": [], "dist": [], "adv": []}
        self.where = (-1, -1)
        self.states: dict[str, dict[str, torch.Tensor]] = {}

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        for name, optimizer in zip(self.steps, trainer.optimizers, strict=True):
            optimizer.register_step_post_hook(
                lambda *_, name=name: self.steps[name].append(self.where)
            )
        self.states["start"] = snapshot(module.model)

    def on_train_batch_start(self, trainer, module, batch, batch_idx: int) -> None:
        self.where = (trainer.current_epoch, batch_idx)

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.current_epoch == module.model.config.step1_epochs - 1:
            self.states["step1"] = snapshot(module.model)


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def part_equal(a: dict, b: dict, part: str) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a if k.startswith(part + "."))


def test_step2_schedule_and_the_freeze_of_s(one_thread) -> None:
    """One step-1 epoch, then 8 step-2 epochs of 8 batches: the encoder and decoder step on
    batches 0 and 4 of step-2 epochs 0 and 4 only, before the adversary's step on every batch."""
    torch.manual_seed(0)
    data = toy_shapes(8, size=8)
    config = tiny(height=8, width=8, nf=4, step1_epochs=1)
    module = module_for(config, data)
    recorder = Recorder()
    trainer(1 + 8, [recorder]).fit(module, loader(module.model, data, 4))  # 8 batches of 4
    assert recorder.steps["s"] == [(0, b) for b in range(8)]
    assert recorder.steps["dist"] == [(1, 0), (1, 4), (5, 0), (5, 4)]
    assert recorder.steps["adv"] == [(e, b) for e in range(1, 9) for b in range(8)]
    start, step1, end = recorder.states["start"], recorder.states["step1"], snapshot(module.model)
    for part in ("z_encoder", "decoder", "adversary"):  # untouched in step 1, trained in step 2
        assert part_equal(start, step1, part) and not part_equal(step1, end, part), part
    for part in ("s_encoder", "s_classifier"):  # trained in step 1, frozen after (BN included)
        assert not part_equal(start, step1, part) and part_equal(step1, end, part), part


def test_a_tiny_run_learns_the_shape_from_s(one_thread) -> None:
    """Step 1 on 16x16 shapes with random positions and brightness: S predicts the shape of
    held-out images with >= 90% accuracy (chance 1/3)."""
    torch.manual_seed(0)
    data = toy_shapes(150)
    config = tiny(step1_epochs=12, lr_s=3e-3, s_dim=8)  # 360 steps: a rate above 1e-4
    module = module_for(config, data)
    trainer(config.step1_epochs).fit(module, loader(module.model, data, 20))  # 30 batches
    test = toy_shapes(30, seed=1)
    model = module.model.eval()
    with torch.no_grad():
        images = torch.from_numpy(test.x).flatten(0, 1)
        predicted = model.s_classifier(model.encode_s(images)).argmax(-1)
    assert (predicted.numpy() == test.content.ravel()).mean() >= 0.9


def digit_samples(n_samples: int, seed: int = 0) -> FragmentData:
    """Samples of 10 fragments whose contents are a permutation of 0-9 (as coloured digits):
    a batch of whole samples holds every content equally often."""
    rng = np.random.default_rng(seed)
    content = np.stack([rng.permutation(10) for _ in range(n_samples)])
    x = rng.random((n_samples, 10, 1, 8, 8), dtype=np.float32)
    style = rng.integers(0, 3, n_samples)
    return FragmentData(x=x, content=content, style=style, name="digits", split="train")


def test_the_data_module_draws_fragments_iid_across_samples() -> None:
    """The reference permutes single images: a batch of train.batch_size fragments mixes many
    samples, and the contents are not balanced as in blocks of whole samples."""
    data = digit_samples(60)
    config = {"train": {"batch_size": 50, "drop_last": True, "seed": 3}, "data": {}}
    module = SequenceDataModule(config, data)
    module.setup("fit")
    model = TwoStep(tiny(height=8, width=8, n_classes=10))
    batches = list(module.train_dataloader(model))
    assert len(batches) == 60 * 10 // 50
    for batch in batches:
        x, labels = model.batch_inputs(batch)
        assert x.shape == (50, 1, 8, 8) and labels.shape == (50,)
        samples, fragments = batch["index"] // 10, batch["index"] % 10
        assert torch.equal(x, torch.from_numpy(data.x[samples, fragments]))
        assert torch.equal(labels, torch.from_numpy(data.content[samples, fragments]))
        assert len(samples.unique()) > 20  # not 5 blocks of 10
    counts = [torch.bincount(b["content"], minlength=10) for b in batches]
    assert any(c.min() < c.max() for c in counts)  # not every digit 5 times


def test_the_encoder_step_leaves_the_adversary_batchnorm_statistics_alone() -> None:
    """Keras 2.0: the frozen Adv inside DistNet normalises by batch statistics but does not
    update its moving statistics; the adversary's own step (AdvNet) updates them."""
    torch.manual_seed(0)
    model = TwoStep(tiny()).train()
    x, y = torch.rand(6, 1, 16, 16), torch.tensor([0, 1, 2, 0, 1, 2])
    reference = copy.deepcopy(model.adversary)  # updates its own statistics, not the model's
    before = snapshot(model.adversary)
    terms = model.loss(x, y)
    assert all(torch.equal(before[k], v) for k, v in snapshot(model.adversary).items())
    expected = keras_cross_entropy(reference(model.encode_z(x)), y)  # batch statistics
    assert terms["ce_adv"].item() == pytest.approx(expected.item(), rel=1e-5)
    bn = [m for m in model.adversary.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(bn) == 3 and all(layer.track_running_stats for layer in bn)
    model.adversary_loss(model.encode_z(x), y)
    after = snapshot(model.adversary)
    assert all(not torch.equal(before[k], after[k]) for k in before if "running_" in k)
