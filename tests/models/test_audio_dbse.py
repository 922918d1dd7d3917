"""DBSE for speech: reference sizes, init and heads, the static-only reconstruction term,
utterance batches, the reference presets, and a toy it learns."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from unweave.data.speech import load_fsdd
from unweave.errors import UnweaveError
from unweave.models import build_model
from unweave.models.audio_dbse import AudioDBSEConfig
from unweave.training.config import load_preset
from unweave.training.datamodule import SequenceDataModule

STEPS = 300
TINY = dict(n_features=12, encoder_hidden=8, g_dim=8, f_dim=4, z_dim=4, rnn_size=8)


def tiny(**changes):
    torch.manual_seed(0)
    return build_model("dbse", {**TINY, **changes}, "audio")


# azencot-group/DBSE audio/model/dbse.py with timit_hyperparameters.py, counted on the
# modules its forward uses (z_lstm_encoder, fc, static_linear_proj, f_mean, f_logvar, z_lstm,
# z_mean, z_logvar, the two prior cells and heads, decoder); its unused mlp_encoder and
# z_rnn bring the module to 14,139,120.
REFERENCE_PARAMETERS = 3_045_169
# Reference layer -> unweave parameter, shape.
REFERENCE_SHAPES = {
    "z_lstm_encoder.weight_ih_l0": ("frame_encoder.lstm.weight_ih_l0", (804, 201)),
    "z_lstm_encoder.weight_hh_l0_reverse": ("frame_encoder.lstm.weight_hh_l0_reverse", (804, 201)),
    "fc.weight": ("frame_encoder.out.weight", (201, 402)),
    "static_linear_proj.weight": ("static_features.0.weight", (256, 201)),
    "f_mean.model.0.weight": ("static_head.mean.weight", (128, 256)),
    "f_logvar.model.0.weight": ("static_head.logvar.weight", (128, 256)),
    "z_lstm.weight_ih_l0": ("dynamic_lstm.weight_ih_l0", (512, 201)),
    "z_lstm.weight_ih_l1_reverse": ("dynamic_lstm.weight_ih_l1_reverse", (512, 256)),
    "z_mean.weight": ("dynamic_head.mean.weight", (128, 256)),
    "z_prior_lstm_ly1.weight_ih": ("dynamic_prior.cell1.weight_ih", (1024, 128)),
    "z_prior_lstm_ly2.weight_ih": ("dynamic_prior.cell2.weight_ih", (1024, 256)),
    "z_prior_mean.weight": ("dynamic_prior.head.mean.weight", (128, 256)),
    "decoder.lstm.weight_ih_l0": ("frame_decoder.lstm.weight_ih_l0", (804, 256)),
    "decoder.lstm.weight_hh_l0": ("frame_decoder.lstm.weight_hh_l0", (804, 201)),
    "decoder.dec_net.0.weight": ("frame_decoder.out.weight", (201, 201)),
}


def test_reference_sizes_and_parameter_count():
    model = build_model("dbse", {}, "audio")
    assert sum(p.numel() for p in model.parameters()) == REFERENCE_PARAMETERS
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    for reference, (name, shape) in REFERENCE_SHAPES.items():
        assert shapes[name] == shape, reference
    x = torch.randn(2, 20, 201)
    latents = model.encode(x)
    assert latents.static.mean.shape == (2, 128) and latents.dynamic.mean.shape == (2, 20, 128)
    assert model.swap(x, x.flip(0)).shape == x.shape


def test_linear_layers_start_at_n0_001_and_lstms_keep_pytorch_init():
    """``dbse_model.apply(utils.init_weights)``: Linear N(0, 0.01), bias 0; LSTMs untouched."""
    torch.manual_seed(0)
    model = build_model("dbse", {}, "audio")
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 9
    for layer in linears:
        assert layer.bias.abs().max() == 0
        assert layer.weight.std().item() == pytest.approx(0.01, rel=0.05)
        assert layer.weight.mean().abs().item() < 1e-3
    lstm = model.frame_encoder.lstm  # PyTorch's U(-1/sqrt(201), 1/sqrt(201))
    bound = 201**-0.5
    for weight in (lstm.weight_ih_l0, lstm.weight_hh_l0_reverse):
        assert weight.abs().max().item() <= bound
        assert weight.std().item() == pytest.approx(bound / 3**0.5, rel=0.05)


def test_static_heads_are_linear_then_leaky_relu():
    """``f_mean``/``f_logvar`` are ``LinearUnit(256, 128, False)``: Linear + LeakyReLU(0.2);
    the dynamic heads stay linear."""
    assert AudioDBSEConfig().static_head_activation == "leaky_relu"
    model = tiny()
    h = torch.randn(64, TINY["rnn_size"])
    static = model.static_head(h)
    linear = model.static_head.mean(h)
    assert (linear < 0).any()
    torch.testing.assert_close(static.mean, nn.functional.leaky_relu(linear, 0.2))
    logvar = nn.functional.leaky_relu(model.static_head.logvar(h), 0.2)
    torch.testing.assert_close(static.logvar, logvar)
    h = torch.randn(64, 2 * TINY["z_dim"])
    torch.testing.assert_close(model.dynamic_head(h).mean, model.dynamic_head.mean(h))


def test_presets_use_the_reference_chunks_raw_features_and_model():
    reference = {"features": "stft", "chunk_samples": 3200, "shift": 20, "normalise": False}
    for data in ("fsdd", "fsdd-strings", "timit", "synthetic-speech"):
        for preset in ("paper", "cpu"):
            config = load_preset("dbse", data, preset)
            options = config["data"]["options"]
            assert {k: options[k] for k in reference} == reference, (data, preset)
            model = build_model("dbse", config["model"], "audio")
            assert sum(p.numel() for p in model.parameters()) == REFERENCE_PARAMETERS
            assert config["train"]["batch_size"] == 32 and config["optim"]["lr"] == 1e-3
        assert load_preset("dbse", data, "paper")["train"]["max_epochs"] == 500
        fhvae = load_preset("fhvae", data, "paper")["data"]["options"]
        assert "chunk_samples" not in fhvae and fhvae.get("normalise", True)


def test_a_batch_is_every_chunk_of_its_utterances_and_the_loss_is_per_chunk(tmp_path: Path):
    """Batches of utterances (all their 200 ms chunks, the last zero-padded), the loss terms
    divided by the number of chunks, as ``train`` in train_and_eval_timit.py:581-614."""
    folder = tmp_path / "recordings"
    folder.mkdir()
    rate, lengths = 16000, {"1_ann_5": 7200, "2_ann_6": 3000, "3_bob_7": 9700, "4_bob_0": 4000}
    for k, (stem, samples) in enumerate(lengths.items()):
        t = np.arange(samples) / rate
        sf.write(folder / f"{stem}.wav", 0.3 * np.sin(2 * np.pi * (200 + 50 * k) * t), rate)
    options = load_preset("dbse", "fsdd", "cpu")["data"]["options"]
    train = load_fsdd(folder, "train", **options)
    assert len(train) == 3 + 1 + 4  # ceil(samples / 3200) per utterance
    model = tiny(n_features=201)
    config = {"train": {"batch_size": 2, "drop_last": True, "seed": 0}}
    loader = SequenceDataModule(config, train).train_dataloader(model)
    assert len(loader) == 1  # 3 utterances in batches of 2, the partial batch dropped
    x = next(iter(loader))["x"]
    served = [np.asarray(train.x[train.groups["utterance"] == u]) for u in range(3)]
    assert any(
        len(x) == len(a) + len(b) and np.array_equal(x.numpy(), np.concatenate([a, b]))
        for a in served
        for b in served
        if a is not b
    )
    assert (np.asarray(train.x[2, 7:]) == 0).all()  # 7,200 = 2 x 3,200 + 800, zero-padded
    too_many = {"train": {**config["train"], "batch_size": 4}}  # 8 chunks, but 3 utterances
    with pytest.raises(UnweaveError, match="gives 3 training items, fewer than train.batch_size=4"):
        SequenceDataModule(too_many, train).train_dataloader(model)
    torch.manual_seed(3)
    terms = model.loss(x)
    torch.manual_seed(3)
    latents = model.encode(x)
    f, z = latents.static.sample(), latents.dynamic.sample()
    chunks = len(x)
    sse = (model.decode(f, z) - x).pow(2).sum() / chunks
    assert terms["sse_seq"].item() == pytest.approx(sse.item(), rel=1e-5)
    assert terms["kl_static"].item() == pytest.approx(latents.static.kl().item() / chunks, rel=1e-5)


def test_loss_is_the_weighted_sum_with_the_static_only_decode():
    model = tiny(w_seq=2.0, w_static=3.0, w_kl_static=0.5, w_kl_dynamic=0.25)
    x = torch.randn(3, 20, 12)
    torch.manual_seed(1)
    terms = model.loss(x)
    assert set(terms) == {"loss", "sse_seq", "sse_static", "kl_static", "kl_dynamic", "mse"}
    expected = (
        2.0 * terms["sse_seq"] + 3.0 * terms["sse_static"]
        + 0.5 * terms["kl_static"] + 0.25 * terms["kl_dynamic"]
    )  # fmt: skip
    assert terms["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    # sse_static compares the chunk decoded from [0, f] with the whole chunk.
    torch.manual_seed(1)
    latents = model.encode(x)
    f = latents.static.sample()
    z = latents.dynamic.sample()
    static_only = model.decode(f, torch.zeros_like(z))
    assert terms["sse_static"].item() == pytest.approx(
        ((static_only - x) ** 2).sum().item() / 3, rel=1e-5
    )


def test_static_code_comes_from_the_first_frame_feature():
    model = tiny().eval()
    x = torch.randn(2, 20, 12)
    h = model.frame_features(x)
    direct = model.static_head(model.static_features(h[:, 0])).mean
    assert torch.allclose(model.encode(x).static.mean, direct)


def test_unknown_setting_is_named():
    with pytest.raises(UnweaveError, match="image_size"):
        build_model("dbse", {"image_size": 64}, "audio")


def test_tiny_model_puts_the_speaker_in_the_static_code(one_thread):
    """Chunks = a small per-speaker spectral offset + a moving per-chunk pattern. After 300
    steps each chunk's static code is nearest its own speaker's centroid (> 95%; the
    untrained model scores about 50%)."""
    generator = torch.Generator().manual_seed(0)
    n_speakers, per = 4, 64
    offsets = 0.5 * torch.randn(n_speakers, 12, generator=generator)
    speaker = torch.arange(n_speakers).repeat_interleave(per)
    phase = torch.rand(len(speaker), 1, 1, generator=generator) * 6.28
    t = torch.arange(20.0)[None, :, None]
    bins = torch.arange(12.0)[None, None, :]
    x = offsets[speaker][:, None, :] + torch.sin(0.5 * t + phase + bins)
    model = tiny(f_dim=4, z_dim=4)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(STEPS):
        rows = torch.randint(0, len(x), (32,), generator=generator)
        loss = model.loss(x[rows])["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        f = model.encode(x).static.mean
    centroids = torch.stack([f[speaker == s].mean(0) for s in range(n_speakers)])
    nearest = torch.cdist(f, centroids).argmin(1)
    assert (nearest == speaker).float().mean() > 0.95
