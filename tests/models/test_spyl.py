"""SPYL: the reference's sizes and heads, its sample-and-predict terms on known cases, the
warm-up that a resumed run remembers, and a tiny run that learns toy sprites."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import TOY_OPTIONS, tiny_toy_run

from unweave.data.registry import load_data
from unweave.models import build_model
from unweave.models.spyl import farthest
from unweave.nn.gaussian import Gaussian
from unweave.nn.mutual_information import info_nce_with_negatives

TINY = dict(
    image_size=16, base_channels=8, g_dim=32, f_dim=16, z_dim=8, rnn_size=16, hidden_dim=16,
    dataset_size=100, negatives=8,
)  # fmt: skip


def test_the_paper_size_has_the_reference_parameter_count_and_plain_static_heads():
    """SPYL's cdsvae/model.py is C-DSVAE's network with Linear static heads (lines 130-131)."""
    model = build_model("spyl", {})
    assert sum(p.numel() for p in model.parameters()) == 11_031_683
    assert isinstance(model.static_head.activation, torch.nn.Identity)
    assert model.dynamic_rnn.input_size == 512 and not hasattr(model, "dynamic_lstm")


def test_info_nce_with_negatives_on_a_known_case():
    """Code e1, positive e1, negatives e2 and -e1: cosines 1, 0, -1 at temperature 0.5."""
    codes = torch.tensor([[1.0, 0.0]])
    negatives = torch.tensor([[[0.0, 1.0], [-2.0, 0.0]]])
    expected = math.log(math.exp(2) + 1 + math.exp(-2)) - 2
    loss = info_nce_with_negatives(codes, 3 * codes, negatives, 0.5)
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_negatives_are_the_bank_means_farthest_by_kl():
    posterior = Gaussian(torch.zeros(1, 1), torch.zeros(1, 1))  # N(0, 1)
    bank = Gaussian(torch.tensor([[0.0], [1.0], [3.0]]), torch.zeros(3, 1))  # KL = m^2 / 2
    assert farthest(posterior, bank, 2).flatten().tolist() == [3.0, 1.0]
    assert farthest(posterior, bank, 10).flatten().tolist() == [3.0, 1.0, 0.0]  # all K


def test_the_contrastive_terms_start_after_the_warm_up_and_a_resumed_model_knows_the_epoch():
    torch.manual_seed(0)
    model = build_model("spyl", {**TINY, "warmup_epochs": 3})
    x = torch.rand(4, 8, 3, 16, 16)
    cold = model.loss(x)
    assert "nce_content" not in cold
    expected = 10 * cold["sse_seq"] + 5 * cold["kl_static"] + cold["kl_dynamic"]
    expected = expected + cold["mi_static_dynamic"]
    assert float(cold["loss"]) == pytest.approx(float(expected), rel=1e-5)
    model.start_epoch(None, 3, 0)
    warm = model.loss(x)
    expected = 10 * warm["sse_seq"] + 5 * warm["kl_static"] + warm["kl_dynamic"]
    expected = expected + warm["mi_static_dynamic"] + warm["nce_content"] + warm["nce_motion"]
    assert float(warm["loss"]) == pytest.approx(float(expected), rel=1e-5)
    again = build_model("spyl", {**TINY, "warmup_epochs": 3})
    again.load_state_dict(model.state_dict())  # what a checkpoint restores mid-epoch
    assert int(again.epoch) == 3 and "nce_motion" in again.loss(x)


def test_the_content_view_carries_gradients_into_the_prior():
    torch.manual_seed(0)
    model = build_model("spyl", {**TINY, "warmup_epochs": 0})
    model.loss(torch.rand(4, 8, 3, 16, 16))["loss"].backward()
    prior_grad = model.dynamic_prior.cell1.weight_ih.grad  # the content view's prior draw
    assert prior_grad is not None and float(prior_grad.abs().sum()) > 0


def test_a_tiny_run_learns_its_own_contrastive_task(tmp_path, one_thread):
    """Stated target: 12 epochs on 600 toy sprites (16x16, 1 thread, ~1 min), contrastive
    from epoch 1: the content InfoNCE falls (last logged third below the first) and the clips
    are reconstructed at under half a blank guess's error. At this size the dynamic code
    collapses (the motion InfoNCE rises to log(1 + negatives), chance; the static code then
    also reads the action), as docs/methods.md reports."""
    import csv

    tiny = {k: v for k, v in TINY.items() if k != "dataset_size"}
    run, model, report = tiny_toy_run("spyl", {**tiny, "warmup_epochs": 1}, tmp_path / "run")
    assert model.config.dataset_size == 600 and int(model.epoch) == 11
    with open(run / "metrics.csv") as file:
        rows = [r for r in csv.DictReader(file) if r.get("train/nce_content")]
    third = len(rows) // 3
    content = [float(r["train/nce_content"]) for r in rows]
    assert sum(content[-third:]) < sum(content[:third]), content
    test = load_data("toy-sprites", "test", None, **TOY_OPTIONS)
    blank = float((torch.from_numpy(test.x).float() / 255).pow(2).mean())
    assert report["mse"] < 0.5 * blank, (report["mse"], blank)
