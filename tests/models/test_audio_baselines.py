"""The sequential baselines on speech: C-DSVAE, SPYL and SKD on DBSE's front end, and the
motion view of speech (their runs through the CLI: tests/test_audio_cli.py)."""

from __future__ import annotations

import pytest
import torch

from unweave.models import build_model
from unweave.nn.views import reshape_spectrum, shuffle_frames

TINY = {
    "c-dsvae": dict(n_features=12, encoder_hidden=8, g_dim=8, f_dim=4, z_dim=4, hidden_dim=8,
                    rnn_size=8, dataset_size=50),
    "spyl": dict(n_features=12, encoder_hidden=8, g_dim=8, f_dim=4, z_dim=4, hidden_dim=8,
                 rnn_size=8, dataset_size=50, negatives=4, warmup_epochs=0),
    "skd": dict(n_features=12, encoder_hidden=8, k_dim=6, hidden_dim=6, static_size=2),
}  # fmt: skip


def test_the_paper_sizes_are_dbse_s_front_end_with_each_method_s_codes():
    """f = z = 128 on DBSE's bi-LSTM 201 -> 201 + Linear; SKD's k = 40 after it."""
    for method in ("c-dsvae", "spyl"):
        model = build_model(method, {}, "audio")
        assert model.frame_encoder.lstm.hidden_size == 201 and model.config.f_dim == 128
        assert model.static_lstm.input_size == 201 and model.dynamic_head.mean.out_features == 128
    skd = build_model("skd", {}, "audio")
    assert skd.frame_encoder.out.out_features == 40 and skd.frame_decoder.out_features == 201


@pytest.mark.parametrize("method", list(TINY))
def test_each_baseline_trains_and_encodes_speech_chunks(method):
    torch.manual_seed(0)
    model = build_model(method, TINY[method], "audio").train()
    x = model.batch_inputs(model.example_batch(8, 10))[0]
    assert x.shape == (8, 10, 12)
    terms = model.loss(x)
    assert torch.isfinite(terms["loss"])
    terms["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    if method == "spyl":
        assert "nce_content" in terms  # no warm-up here: the sample-and-predict terms run
    model.eval()
    latents = model.encode(x)
    codes = latents.static.mean.shape[-1]
    assert latents.static.mean.shape == (8, codes) and latents.dynamic.mean.shape[:2] == (8, 10)
    assert model.decode(latents.static.mean, latents.dynamic.mean).shape == x.shape


def test_the_motion_view_of_speech_keeps_the_timing_and_changes_the_voice():
    torch.manual_seed(0)
    chunks = torch.rand(4, 20, 201) + 0.1
    view = reshape_spectrum(chunks)
    gain = view / chunks  # one response per chunk: the same for every frame
    assert torch.allclose(gain, gain[:, :1].expand_as(gain), rtol=1e-5)
    assert (view > 0).all() and not torch.allclose(gain[0], gain[1])
    assert gain.max() <= torch.exp(torch.tensor(1.5)) + 1e-4  # |a| + |b| + |c| <= 1.5
    assert not torch.allclose(reshape_spectrum(chunks, 0.0), view)
    assert torch.equal(reshape_spectrum(chunks, 0.0), chunks)
    assert shuffle_frames(chunks).shape == chunks.shape  # the content view works on chunks
