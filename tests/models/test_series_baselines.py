"""SPYL on DBSE's series model: its loss is DBSE's with SPYL's terms added, the terms start
after the warm-up, the views read the window codes in time order, and a tiny run learns."""

from __future__ import annotations

import csv

import pytest
import torch

from unweave.data.registry import load_data
from unweave.models import build_model
from unweave.models.series import SeriesDBSE

SMALL = {
    "n_features": 3, "window": 5, "n_windows": 4, "static_window": 1, "mc_samples": 2,
    "negatives": 4, "dataset_size": 50,
}  # fmt: skip


def spyl(**settings) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("spyl", {**SMALL, **settings}, "series")


def series(batch: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(batch, 20, 3, generator=torch.Generator().manual_seed(1))
    return x, torch.ones_like(x, dtype=torch.bool)


def dbse_part(terms: dict[str, torch.Tensor], model: torch.nn.Module) -> torch.Tensor:
    c = model.config
    return (
        c.w_rec * terms["nll_seq"] + c.w_rec_static * terms["nll_static"]
        + c.w_kl_static * terms["kl_static"] + c.w_kl_dynamic * terms["kl_dynamic"]
    )  # fmt: skip


def test_the_loss_is_dbses_plus_the_mi_penalty_then_the_contrastive_terms() -> None:
    model = spyl(warmup_epochs=2, w_mi=0.5, w_content=2.0, w_motion=3.0)
    assert isinstance(model, SeriesDBSE)
    x, mask = series()
    cold = model.loss(x, mask)
    assert "nce_content" not in cold and float(cold["mi_static_dynamic"]) >= 0
    expected = dbse_part(cold, model) + 0.5 * cold["mi_static_dynamic"]
    assert float(cold["loss"]) == pytest.approx(float(expected), rel=1e-5)
    model.start_epoch(None, 2, 0)
    warm = model.loss(x, mask)
    expected = dbse_part(warm, model) + 0.5 * warm["mi_static_dynamic"]
    expected = expected + 2 * warm["nce_content"] + 3 * warm["nce_motion"]
    assert float(warm["loss"]) == pytest.approx(float(expected), rel=1e-5)
    again = spyl(warmup_epochs=2)
    again.load_state_dict(model.state_dict())  # a resumed run knows its epoch
    assert int(again.epoch) == 2 and "nce_motion" in again.loss(x, mask)


def test_the_motion_view_decodes_the_window_codes_in_time_order(monkeypatch) -> None:
    """The loss works on the series shifted so the static window comes first; the view it
    decodes from the posterior means must be in the order encode() returns them."""
    model = spyl(warmup_epochs=0, mc_samples=1).eval()
    x, mask = series()
    decoded = []
    decode = model.decode
    monkeypatch.setattr(model, "decode", lambda f, z: decoded.append(z) or decode(f, z))
    model.loss(x, mask)
    expected = model.encode(x, mask).dynamic.mean  # natural order
    motion_codes = decoded[-1]  # sample_bank, content view, motion view
    # The static window's own code reads fresh noise (DBSE's rule); every other is fixed.
    others = [w for w in range(4) if w != model.config.static_window]
    torch.testing.assert_close(motion_codes[:, others], expected[:, others])


def test_a_tiny_run_learns_the_level_and_its_contrastive_task(tmp_path, one_thread) -> None:
    """Stated target: 16 epochs of 400 synthetic series (batch 32, 1 thread, about a minute),
    contrastive from epoch 1: the static code reads the level at >= 0.7 (0.86 measured; 4 levels,
    chance 0.25) and the content InfoNCE falls (last logged third below the first)."""
    from unweave.export import load
    from unweave.metrics.probes import series_probe_report
    from unweave.training.config import resolve
    from unweave.training.run import train

    options = {"n_train": 400, "n_test": 200}
    overrides = [f"data.options.{k}={v}" for k, v in options.items()]
    overrides += ["train.max_epochs=16", "train.batch_size=32", "model.warmup_epochs=1"]
    overrides += ["model.negatives=32"]
    config = resolve("spyl", "synthetic-series", "cpu", overrides=overrides)
    run = train(config, tmp_path / "run", enable_progress_bar=False)
    model = load(run)
    assert model.config.dataset_size == 400
    splits = (load_data("synthetic-series", s, None, **options) for s in ("train", "test"))
    report = series_probe_report(model, *splits)
    assert report["static->level"] >= 0.7, report
    with open(run / "metrics.csv") as file:
        rows = [r for r in csv.DictReader(file) if r.get("train/nce_content")]
    third = len(rows) // 3
    content = [float(r["train/nce_content"]) for r in rows]
    assert sum(content[-third:]) < sum(content[:third]), content
