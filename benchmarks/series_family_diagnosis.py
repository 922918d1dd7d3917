"""Diagnosis: why DBSE's static code loses the synthetic series' profile family.

Reads a finished synthetic-series run (default: the 10x run of ``budget_curves.py``) and
measures, on the test split: the reconstruction error per feature, the mean reconstruction
of each (family, level) cell beside the data's, the encoder's output units that never fire,
and how well any unit follows a family. Then two short fits from scratch with the preset's
parts (1,500 steps each, batch 64, Adam 1e-3): the decoder alone fed the true factors
one-hot, and encoder + decoder as a deterministic autoencoder (posterior means, no KL).
Writes ``benchmarks/results/series_family_diagnosis.json`` and prints what it found.

    python benchmarks/series_family_diagnosis.py [--run runs/budget-dbse-synthetic-series]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from common import machine, record

import unweave
from unweave.data.synthetic_series import load_synthetic_series
from unweave.models import build_model
from unweave.models.series import WindowDecoder
from unweave.training.run import read_run_config

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "series_family_diagnosis.json"
STEPS, BATCH = 1500, 64


def family_in_reconstruction(recon: np.ndarray, x: np.ndarray, family: np.ndarray) -> float:
    """Share of series whose reconstruction's feature profile (mean over time, minus its mean
    across features) is nearest to the data's mean profile of their own family."""

    def profile(a: np.ndarray) -> np.ndarray:
        means = a.mean(1)
        return means - means.mean(1, keepdims=True)

    centres = np.stack([profile(x)[family == k].mean(0) for k in range(3)])
    nearest = ((profile(recon)[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
    return float((nearest == family).mean())


def trained_run_figures(run: Path, test) -> dict:
    """Per-feature errors, dead encoder units and the family signal of a trained run."""
    model = unweave.load(run).model
    x = torch.from_numpy(test.x)
    with torch.no_grad():
        latents = model.encode(x)
        recon = model.decode(latents.static.mean, latents.dynamic.mean)
        units = model.encoder(x).reshape(-1, model.config.encoder_sizes[-1]).numpy()
    family, level = test.static["family"], test.static["level"]
    per_series = units.reshape(len(x), -1, units.shape[-1]).mean(1)
    correlation = max(
        abs(np.corrcoef(per_series[:, j], family == k)[0, 1])
        for k in range(3)
        for j in range(units.shape[1])
        if per_series[:, j].std() > 0
    )
    cells = {
        f"family {k}, level {v}": {
            "data": x[(family == k) & (level == v)].mean((0, 1)).round(decimals=2).tolist(),
            "reconstruction": recon[(family == k) & (level == v)]
            .mean((0, 1))
            .round(decimals=2)
            .tolist(),
        }
        for k in range(3)
        for v in range(4)
    }
    return {
        "mse_per_feature": ((recon - x) ** 2).mean((0, 1)).tolist(),
        "variance_per_feature": x.var((0, 1)).tolist(),
        "family_in_reconstruction": family_in_reconstruction(recon.numpy(), test.x, family),
        "encoder_units_never_firing": int((units <= 0).all(0).sum()),
        "encoder_units": int(units.shape[1]),
        "largest_unit_family_correlation": float(correlation),
        "cells": cells,
    }


def fit_from_scratch(config: dict, train, test, mode: str) -> list[dict]:
    """``mode`` "decoder": the decoder fed one-hot (regime, level, family) codes; "autoencoder":
    encoder and decoder on posterior means, no KL. NLL curve, mse and family every 250 steps."""
    torch.manual_seed(0)
    model = build_model("dbse", config["model"], "series")
    x, mask = torch.from_numpy(train.x), torch.from_numpy(train.mask)
    x_test = torch.from_numpy(test.x)

    def one_hot_codes(data) -> torch.Tensor:
        regime = torch.nn.functional.one_hot(torch.from_numpy(data.targets["regime"]), 3)
        static = [
            torch.nn.functional.one_hot(torch.from_numpy(data.static[k]), n)
            for k, n in (("level", 4), ("family", 3))
        ]
        windows = regime.shape[1]
        return torch.cat([regime, *(s[:, None].expand(-1, windows, -1) for s in static)], -1)

    if mode == "decoder":
        settings = config["model"]
        decoder = WindowDecoder(10, settings["n_features"], settings["decoder_sizes"])
        parameters, codes, test_codes = (
            decoder.parameters(), one_hot_codes(train).float(), one_hot_codes(test).float()
        )  # fmt: skip
    else:
        decoder, parameters = model.decoder, model.parameters()
    optimiser = torch.optim.Adam(parameters, 1e-3)
    window, curve = config["model"]["window"], []
    for step in range(STEPS + 1):
        rows = torch.randint(0, len(x), (BATCH,))
        if mode == "decoder":
            px, target = decoder(codes[rows], window), x[rows]
        else:
            target = model.shift(x[rows])
            latents = model.encode_shifted(target, model.shift(mask[rows]))
            px = decoder(model.decoder_codes(latents.static.mean, latents.dynamic.mean), window)
        loss = -px.log_prob(target).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % 250 == 0:
            with torch.no_grad():
                if mode == "decoder":
                    recon = decoder(test_codes, window).mean
                else:
                    latents = model.encode(x_test)
                    recon = model.decode(latents.static.mean, latents.dynamic.mean)
            curve.append({
                "step": step, "nll": loss.item(), "mse": float(((recon - x_test) ** 2).mean()),
                "family_in_reconstruction": family_in_reconstruction(
                    recon.numpy(), test.x, test.static["family"]
                ),
            })  # fmt: skip
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=REPO / "runs" / "budget-dbse-synthetic-series")
    args = parser.parse_args()
    config = read_run_config(args.run)
    options = config["data"]["options"]
    train = load_synthetic_series("train", **options)
    test = load_synthetic_series("test", **options)
    entry = {
        "run": str(args.run.name),
        "trained": trained_run_figures(args.run, test),
        "decoder_on_true_factors": fit_from_scratch(config, train, test, "decoder"),
        "deterministic_autoencoder": fit_from_scratch(config, train, test, "autoencoder"),
        "machine": machine(),
    }
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    record(OUT, results, "synthetic-series", entry)
    trained = entry["trained"]
    print("mse per feature:", np.round(trained["mse_per_feature"], 3))
    print("family read from the reconstruction:", round(trained["family_in_reconstruction"], 3))
    print(
        f"encoder units never firing: {trained['encoder_units_never_firing']} of "
        f"{trained['encoder_units']}; largest |corr| with a family: "
        f"{trained['largest_unit_family_correlation']:.2f}"
    )
    for name in ("decoder_on_true_factors", "deterministic_autoencoder"):
        last = entry[name][-1]
        print(
            f"{name}: after {last['step']} steps mse {last['mse']:.3f}, family read from the "
            f"reconstruction {last['family_in_reconstruction']:.3f}"
        )


if __name__ == "__main__":
    main()
