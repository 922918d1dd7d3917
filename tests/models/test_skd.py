"""SKD: the reference's layers and parameter count, its Koopman fit and eigenvalue split on
known matrices, the loss terms on known eigenvalues, the judge's draw without a prior, and a
tiny run that learns toy sprites."""

from __future__ import annotations

import pytest
import torch
from helpers import tiny_toy_run

from unweave.errors import UnweaveError
from unweave.metrics.sequential import convex_mixture
from unweave.models import build_model
from unweave.models.skd import (
    DYNAMIC_PENALTIES,
    STATIC_PENALTIES,
    SKDConfig,
    eigen_units,
    koopman_fit,
    koopman_split,
    mean_penalty,
    static_indices,
)

TINY = dict(image_size=16, base_channels=8, k_dim=16, hidden_dim=16, static_size=3)


def test_the_paper_size_has_the_reference_layers_and_parameter_count():
    """SKD's model.py with hidden_dim = k_dim = 40, counted layer by layer: encoder convs
    855,064, decoder convs 854,947, two LSTM(40, 40) of 13,120 each."""
    model = build_model("skd", {})
    assert sum(p.numel() for p in model.parameters()) == 1_736_251
    convs = [m for m in model.frame_encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128, 256, 40]
    assert isinstance(model.frame_encoder.net[-1], torch.nn.Tanh)
    assert (model.encoder_lstm.input_size, model.encoder_lstm.hidden_size) == (40, 40)
    assert model.frame_decoder.net[0].in_channels == 40
    assert isinstance(model.frame_decoder.net[-1], torch.nn.Sigmoid)
    assert model.drop.p == 0.2


def test_the_koopman_fit_recovers_a_known_linear_system():
    torch.manual_seed(0)
    koopman = torch.linalg.qr(torch.randn(4, 4))[0] * 0.9  # stable
    steps = [torch.randn(6, 4)]
    for _ in range(7):
        steps.append(steps[-1] @ koopman)
    latents = torch.stack(steps, 1)  # (6, 8, 4)
    assert torch.allclose(koopman_fit(latents), koopman, atol=1e-4)


def test_static_units_count_a_conjugate_pair_once():
    eigenvalues = torch.tensor([0.2 + 0j, 1.0 + 0j, 0.9 + 0.1j, 0.9 - 0.1j, -0.5 + 0j])
    assert sorted(static_indices(eigenvalues, "ball", 1).tolist()) == [1]
    assert sorted(static_indices(eigenvalues, "ball", 2).tolist()) == [1, 2, 3]
    assert sorted(static_indices(eigenvalues, "ball", 3).tolist()) == [0, 1, 2, 3]
    assert sorted(static_indices(eigenvalues, "real", 2).tolist()) == [1, 2, 3]
    assert sorted(static_indices(eigenvalues, "norm", 4).tolist()) == [0, 1, 2, 3, 4]
    assert len(static_indices(eigenvalues, "ball", 9)) == 5  # no more than there are


def test_the_split_keeps_the_unit_eigenvalue_static_and_sums_to_the_latents():
    """C = diag(1, 0.3) in a rotated basis: the static part is the constant component, the
    dynamic part the decaying one, and they sum back to the latents."""
    basis = torch.linalg.qr(torch.randn(2, 2, generator=torch.Generator().manual_seed(1)))[0]
    koopman = basis.T @ torch.diag(torch.tensor([1.0, 0.3])) @ basis
    start = torch.tensor([[1.0, 2.0], [-1.0, 0.5]])
    latents = torch.stack([start @ torch.linalg.matrix_power(koopman, t) for t in range(8)], 1)
    static, dynamic = koopman_split(latents, koopman, "real", 1)
    assert torch.allclose(static + dynamic, latents, atol=1e-5)
    assert torch.allclose(static, static[:, :1].expand_as(static), atol=1e-5)  # constant
    assert dynamic[:, -1].abs().max() < 1e-3  # 0.3^7 of the start


def test_the_eigenvalue_penalties_on_known_eigenvalues():
    config = SKDConfig()
    static = torch.tensor([1.0 + 0j, 0.5 + 0.5j])
    assert float(mean_penalty(STATIC_PENALTIES["ball"](static, config))) == pytest.approx(0.25)
    assert float(mean_penalty(STATIC_PENALTIES["real"](static, config))) == pytest.approx(0.125)
    # norm: (|l|^2 - 1)^2 = 0 and 0.25
    assert float(mean_penalty(STATIC_PENALTIES["norm"](static, config))) == pytest.approx(0.125)
    dynamic = torch.tensor([0.6 + 0j, 0.4 + 0j, -1.0 + 0j])
    # real: Re l where Re l > 0.5, the value itself (model.py:544-546)
    assert float(mean_penalty(DYNAMIC_PENALTIES["real"](dynamic, config))) == pytest.approx(0.2)
    # ball: 2 - |l - 1| where |l - 1| < 0.6: only 0.6 (1.6), 0.4 is at 0.6 exactly
    assert float(mean_penalty(DYNAMIC_PENALTIES["ball"](dynamic, config))) == pytest.approx(1.6 / 3)
    assert float(mean_penalty(DYNAMIC_PENALTIES["none"](dynamic, config))) == 0
    assert float(mean_penalty(STATIC_PENALTIES["ball"](static[:0], config))) == 0  # none static


def test_the_loss_is_the_weighted_sum_of_its_terms_and_keeps_a_running_koopman():
    torch.manual_seed(0)
    model = build_model("skd", TINY).train()
    terms = model.loss(torch.rand(8, 8, 3, 16, 16))
    expected = (
        15 * terms["mse"] + terms["predict_ambient"] + terms["predict_latent"]
        + terms["eigs_static"] + terms["eigs_dynamic"]
    )  # fmt: skip
    assert float(terms["loss"].detach()) == pytest.approx(float(expected), rel=1e-5)
    assert 3 <= float(terms["static_eigenvalues"]) <= 6  # 3 units, pairs count twice
    assert not torch.equal(model.koopman, torch.eye(16))  # moved towards the batch's C
    terms["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_codes_have_the_latent_size_and_a_single_clip_uses_the_running_koopman():
    torch.manual_seed(0)
    model = build_model("skd", TINY).eval()
    x = torch.rand(6, 8, 3, 16, 16)
    latents = model.encode(x)
    assert latents.static.mean.shape == (6, 16) and latents.dynamic.mean.shape == (6, 8, 16)
    assert torch.isneginf(latents.static.logvar).all()  # deterministic codes
    # 7 pairs < k = 16: the running C, the identity here, whose first 3 axes are static.
    one = model.encode(x[:1])
    assert torch.allclose(one.static.mean[:, :3], one.extras["latents"].mean(1)[:, :3], atol=1e-6)
    assert torch.equal(one.static.mean[:, 3:], torch.zeros(1, 13))
    assert model.swap(x[:1], x[1:2]).shape == (1, 8, 3, 16, 16)


def test_the_decoder_reads_the_static_part_per_frame_as_the_reference_swaps():
    """The static part kept per frame plus the dynamic part is Z, so decoding them is the
    reconstruction; the time mean alone is not (the reference never averages it,
    ``koopman_utils.py:92-96``). A swap decodes the donor's per-frame static part."""
    torch.manual_seed(0)
    model = build_model("skd", TINY).eval()
    x = torch.rand(6, 8, 3, 16, 16)
    latents = model.encode(x)
    frames = latents.static_to_decode
    assert frames.shape == (6, 8, 16)
    torch.testing.assert_close(frames.mean(1), latents.static.mean)
    z = latents.extras["latents"]
    torch.testing.assert_close(frames + latents.dynamic.mean, z, rtol=1e-4, atol=1e-5)
    reconstruction = model.decode_latents(z)
    torch.testing.assert_close(model.decode(frames, latents.dynamic.mean), reconstruction)
    averaged = latents.static.mean[:, None] + latents.dynamic.mean  # what a mean would decode
    assert (averaged - z).abs().max() > 1e-2
    pair = model.encode(torch.cat([x[:3], x[3:]]))
    expected = model.decode(pair.static_to_decode[:3], pair.dynamic.mean[3:])
    torch.testing.assert_close(model.swap(x[:3], x[3:]), expected)


def test_eigen_units_keep_a_conjugate_pair_together():
    eigenvalues = torch.linalg.eigvals(
        torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.5]])
    )
    units = eigen_units(eigenvalues)
    assert sorted(len(u) for u in units) == [1, 2]
    pair = next(u for u in units if len(u) == 2)
    assert torch.allclose(eigenvalues[pair[0]], eigenvalues[pair[1]].conj())


def test_the_multifactor_swap_donates_the_chosen_eigenvectors():
    """``swap_by_index`` (``koopman_utils.swap_by_index``): donating no eigenvector decodes
    the kept clips, donating all decodes the donors, donating the static ones is the swap
    the other way round; bad indices and shapes get one sentence."""
    torch.manual_seed(0)
    model = build_model("skd", TINY).eval()
    x = torch.rand(6, 8, 3, 16, 16)
    keep, donor = x[:3], x[3:]
    close = dict(rtol=1e-4, atol=1e-4)
    both = model.latents(x)
    torch.testing.assert_close(
        model.swap_by_index(keep, donor, []), model.decode_latents(both)[:3], **close
    )
    torch.testing.assert_close(
        model.swap_by_index(keep, donor, range(16)), model.decode_latents(both)[3:], **close
    )
    eigenvalues = model.eigenvalues(x)
    assert eigenvalues.shape == (16,) and eigenvalues.is_complex()
    static = static_indices(eigenvalues, "real", 3).tolist()
    torch.testing.assert_close(
        model.swap_by_index(keep, donor, static), model.swap(donor, keep), **close
    )
    with pytest.raises(UnweaveError, match=r"indices \[16\] are out of range; C has 16"):
        model.swap_by_index(keep, donor, [0, 16])
    with pytest.raises(UnweaveError, match="clips of one shape"):
        model.swap_by_index(keep, donor[:2], [0])


def test_the_judge_draws_a_convex_mixture_of_two_batch_codes():
    torch.manual_seed(0)
    codes = torch.eye(5)  # row i is e_i: a mixture has two weights summing to 1
    mixed = convex_mixture(codes)
    assert torch.allclose(mixed.sum(1), torch.ones(5))
    assert ((mixed > 0).sum(1) <= 2).all() and (mixed >= 0).all()
    sequences = torch.rand(5, 8, 3)
    assert convex_mixture(sequences).shape == (5, 8, 3)


def test_a_tiny_run_learns_toy_sprites(tmp_path, one_thread):
    """Stated target: 12 epochs on 600 toy sprites (16x16, k 16, 1 thread, ~25 s): the
    dynamic code reads the action at >= 0.5 (chance 1/9; 0.62 by
    benchmarks/toy_sequential.py) and the static code the top's colour at >= 0.4
    (chance 1/6; 0.53 there)."""
    _, _, report = tiny_toy_run("skd", TINY, tmp_path / "run")
    assert report["dynamic->action"] >= 0.5, report
    assert report["static->top"] >= 0.4, report
