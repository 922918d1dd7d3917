"""C-DSVAE: the reference's sizes, its shared posterior, its views, its contrastive and MI
terms on known cases, and a tiny run that learns toy sprites."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import tiny_toy_run

from unweave.models import build_model
from unweave.nn import mutual_information
from unweave.nn.gaussian import Gaussian
from unweave.nn.mutual_information import info_nce, static_dynamic_mi
from unweave.nn.views import distort_colours, shuffle_frames

TINY = dict(image_size=16, base_channels=8, g_dim=32, f_dim=16, z_dim=8, rnn_size=16, hidden_dim=16)


def test_the_paper_size_has_the_reference_parameter_count():
    """C-DSVAE model.py at run_cdsvae.sh's settings, counted layer by layer: encoder
    3,807,424; decoder 5,117,763; prior 839,744; bi-LSTM 790,528; f heads 262,656;
    z RNN 197,120; z heads 16,448."""
    model = build_model("c-dsvae", {})
    assert sum(p.numel() for p in model.parameters()) == 11_031_683
    assert model.static_lstm.hidden_size == 256 and model.static_lstm.input_size == 128
    assert model.dynamic_rnn.input_size == 512 and not hasattr(model, "dynamic_lstm")


def test_the_dynamic_posterior_reads_the_static_lstm_not_f():
    """z_t comes from a forward RNN over the bi-LSTM's outputs (model.py:160-163): every
    frame moves z_0 (the backward direction), and no sample of f enters it."""
    torch.manual_seed(0)
    model = build_model("c-dsvae", TINY).train()
    x = torch.rand(4, 8, 3, 16, 16)
    changed = x.clone()
    changed[:, -1] = torch.rand_like(changed[:, -1])
    model.eval()
    assert not torch.allclose(
        model.encode(x).dynamic.mean[:, 0], model.encode(changed).dynamic.mean[:, 0]
    )
    model.train()
    torch.manual_seed(1)
    first = model.encode(x)
    torch.manual_seed(2)
    second = model.encode(x)  # other random draws, same batch statistics
    assert torch.equal(first.dynamic.mean, second.dynamic.mean)
    assert "static_sample" not in first.extras


def test_info_nce_on_a_known_case():
    """Two orthogonal codes, each its own view: every row has cosines 1 (positive), 0, 0 and
    self; the loss is log(exp(1/t) + 2) - 1/t."""
    codes = torch.eye(2)
    expected = math.log(math.exp(2.0) + 2.0) - 2.0  # t = 0.5
    assert float(info_nce(codes, codes, 0.5)) == pytest.approx(expected, rel=1e-6)
    swapped = info_nce(codes, codes.flip(0), 0.5)  # each view is the other code's
    assert float(swapped) == pytest.approx(math.log(math.exp(2.0) + 2.0), rel=1e-6)
    scaled = info_nce(3 * codes, 0.5 * codes, 0.5)  # cosine: the scale does not matter
    assert float(scaled) == pytest.approx(expected, rel=1e-6)


def reference_mi(f, f_mean, f_logvar, z, z_mean, z_logvar, n_data):
    """train_cdsvae.py:114-134 written out with loops (log-variances read as log std)."""

    def log_density(x, mean, log_std):
        return float(
            np.sum(-0.5 * ((x - mean) / np.exp(log_std)) ** 2 - log_std - 0.5 * np.log(2 * np.pi))
        )

    def lse(values):
        return float(np.log(np.sum(np.exp(values))))

    batch, steps = z.shape[:2]
    norm = np.log(batch * n_data)
    total = 0.0
    for t in range(steps):
        for i in range(batch):
            a = [log_density(f[i], f_mean[j], f_logvar[j]) for j in range(batch)]
            b = [log_density(z[i, t], z_mean[j, t], z_logvar[j, t]) for j in range(batch)]
            q_fz = lse(np.add(a, b)) - norm
            total += max(0.0, q_fz - (lse(a) - norm) - (lse(b) - norm))
    return total / (batch * steps)


def test_the_mi_penalty_matches_the_reference_formula_and_a_known_value():
    rng = np.random.default_rng(0)
    f_mean, f_logvar = rng.normal(size=(5, 3)), rng.normal(scale=0.3, size=(5, 3))
    z_mean, z_logvar = rng.normal(size=(5, 4, 2)), rng.normal(scale=0.3, size=(5, 4, 2))
    f, z = rng.normal(size=(5, 3)), rng.normal(size=(5, 4, 2))
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    ours = static_dynamic_mi(
        t(f), Gaussian(t(f_mean), t(f_logvar)), t(z), Gaussian(t(z_mean), t(z_logvar)), 100
    )
    expected = reference_mi(f, f_mean, f_logvar, z, z_mean, z_logvar, 100)
    assert float(ours) == pytest.approx(expected, rel=1e-9)
    # One clip: each aggregate is one density, and the estimate is log(B N) = log(1 * 100).
    one = static_dynamic_mi(
        t(f[:1]), Gaussian(t(f_mean[:1]), t(f_logvar[:1])), t(z[:1]),
        Gaussian(t(z_mean[:1]), t(z_logvar[:1])), 100, logvar_as_log_std=False,
    )  # fmt: skip
    assert float(one) == pytest.approx(math.log(100), rel=1e-12)


def test_the_views_keep_what_they_should():
    torch.manual_seed(0)
    clips = torch.rand(6, 8, 3, 8, 8)
    shuffled = shuffle_frames(clips)
    for clip, view in zip(clips, shuffled, strict=True):  # the same frames, another order
        assert torch.allclose(clip.sum((1, 2, 3)).sort().values, view.sum((1, 2, 3)).sort().values)
    assert not torch.equal(clips, shuffled)
    still = clips[:, :1].expand(-1, 8, -1, -1, -1).contiguous()  # every frame alike
    recoloured = distort_colours(still)
    assert recoloured.shape == still.shape and recoloured.min() >= 0 and recoloured.max() <= 1
    assert torch.allclose(recoloured, recoloured[:, :1].expand_as(recoloured), atol=1e-6)
    assert not torch.allclose(recoloured, still, atol=1e-3)  # some clip was changed
    grey = distort_colours(torch.rand(4, 8, 1, 8, 8))  # one channel: no saturation or hue
    assert grey.shape == (4, 8, 1, 8, 8)


def test_the_loss_is_the_elbo_plus_the_weighted_terms():
    torch.manual_seed(0)
    model = build_model("c-dsvae", {**TINY, "dataset_size": 50})
    terms = model.loss(torch.rand(4, 8, 3, 16, 16))
    expected = (
        terms["sse_seq"] + terms["kl_static"] + terms["kl_dynamic"] + terms["mi_static_dynamic"]
        + 10 * terms["nce_content"] + 10 * terms["nce_motion"]
    )  # fmt: skip
    assert float(terms["loss"]) == pytest.approx(float(expected), rel=1e-5)
    assert float(terms["nce_content"]) > 0 and float(terms["mi_static_dynamic"]) >= 0


def test_a_tiny_run_learns_toy_sprites(tmp_path, one_thread):
    """Stated target: 12 epochs on 600 toy sprites (16x16, 1 thread, ~30 s): the static code
    reads the top's colour at >= 0.5 (chance 1/6; 0.74 by benchmarks/toy_sequential.py)
    and the dynamic code the action at >= 0.5 (chance 1/9; 0.66 there, DSVAE's 0.34)."""
    _, model, report = tiny_toy_run("c-dsvae", TINY, tmp_path / "run")
    assert model.config.dataset_size == 600  # set from the training data
    assert report["static->top"] >= 0.5, report
    assert report["dynamic->action"] >= 0.5, report


def test_the_pairwise_density_in_float32_keeps_the_broadcast_form_s_values():
    """The expanded square (memory B^2, not B^2 D) against the reference's broadcast form in
    float64, at speech-like sizes and sharp posteriors (std down to 1e-4)."""
    torch.manual_seed(0)
    samples, mean = 3 + torch.randn(2, 40, 16), 3 + torch.randn(2, 40, 16)
    log_std = torch.empty(2, 40, 16).uniform_(math.log(1e-4), 0.5)
    ours = mutual_information._pairwise_log_density(samples, Gaussian(mean, log_std), True)
    s, m, lsd = samples.double(), mean.double(), log_std.double()
    broadcast = (
        -0.5 * ((s[..., :, None, :] - m[..., None, :, :]) / lsd.exp()[..., None, :, :]) ** 2
        - lsd[..., None, :, :] - 0.5 * math.log(2 * math.pi)
    ).sum(-1)  # fmt: skip
    assert ours.shape == (2, 40, 40)
    assert torch.allclose(ours.double(), broadcast, rtol=1e-5, atol=1e-2)
