"""The judge protocol of sequential disentanglement (S3VAE, C-DSVAE, SPYL, DBSE).

Generated clips are labelled by a judge classifier trained on the real labels
(``unweave.judges``) and compared with the labels of the clip their codes came from:

* ``sample_static``: keep the dynamics (posterior means), draw the static code from its
  prior. The dynamic factors should survive (accuracy high), the static ones should not
  (accuracy near chance). Table 1 of the DBSE paper reports this mode's action accuracy.
* ``sample_dynamic``: keep the static code (posterior mean), draw the dynamics from the
  learned prior (per-step means, samples fed back): static factors high, dynamic near chance.
* ``swap``: decode the static code of clip b with the dynamics of clip a; the judge should
  read b's static factors and a's dynamic factors.

A model without priors (SKD) draws a code as its reference's judge does
(``forward_sample_for_classification2``, ``duplicate=False``): a random convex combination
of the codes of two clips of the batch (:func:`convex_mixture`), frame by frame. Every mode
decodes the static code the model's decoder reads (``Latents.static_to_decode``: SKD's
static part per frame).

Each mode also reports, on the softmax of the first dynamic factor's head over a
class-balanced subset (the first m clips of each true class, m the smallest class count),
IS = exp(E KL(p(y|x) || p(y))), H(y|x) and H(y). Settings follow DBSE's reference
``check_cls`` for every method: ``niter`` 5 shuffled passes of batches of 128 with the last
partial batch dropped; accuracies are averaged over batches, then mean +- std over passes.
(C-DSVAE's test script runs 3 passes and SPYL's ``train.py`` 2, over the unshuffled test
loader, so the same first 2,560 clips each time.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from unweave.data.base import SequenceData
from unweave.errors import UnweaveError
from unweave.judges.sequence import SequenceJudge
from unweave.judges.train import factor_names
from unweave.models import SequentialVAE
from unweave.nn.frames import prepare_frames

MODES = ("sample_static", "sample_dynamic", "swap")


def inception_scores(probs: np.ndarray) -> dict[str, float]:
    """IS, H(y|x) and H(y) of predicted class probabilities ``(N, K)`` (natural logs)."""
    eps = 1e-12
    marginal = probs.mean(0, keepdims=True)
    kl = (probs * (np.log(probs + eps) - np.log(marginal + eps))).sum(1)
    return {
        "is": float(np.exp(kl.mean())),
        "h_yx": float(-(probs * np.log(probs + eps)).sum(1).mean()),
        "h_y": float(-(marginal * np.log(marginal + eps)).sum()),
    }


def balanced_subset(labels: np.ndarray) -> np.ndarray:
    """Indices of the first m items of every class, m the smallest class count."""
    classes, counts = np.unique(labels, return_counts=True)
    m = counts.min()
    return np.concatenate([np.flatnonzero(labels == c)[:m] for c in classes])


def check_judge(
    judge: SequenceJudge, judge_info: dict[str, Any], model: SequentialVAE, data: SequenceData
) -> None:
    """One clear sentence when the judge does not fit the model or the data."""
    trained_on = judge_info["params"]["data"]
    if trained_on != data.name or list(judge.config.factor_sizes) != factor_names(data):
        raise UnweaveError(
            f"The judge was trained on '{trained_on}' with factors {list(judge.config.factor_sizes)}; "
            f"the run's data is '{data.name}' with factors {factor_names(data)}."
        )
    if judge.config.image_size != model.config.image_size:
        raise UnweaveError(
            f"The judge sees {judge.config.image_size}x{judge.config.image_size} frames but the model "
            f"makes {model.config.image_size}x{model.config.image_size}; train a judge with "
            f"--image-size {model.config.image_size}."
        )


def convex_mixture(codes: torch.Tensor) -> torch.Tensor:
    """Codes ``(B, ...)`` -> for each row, a convex combination (random weights) of the codes
    of two random rows: SKD's draw of a code without a prior (``model.py:267-287``)."""
    n = len(codes)
    weights = torch.rand(n, 2, device=codes.device)
    weights = (weights / weights.sum(1, keepdim=True)).view(n, 2, *[1] * (codes.ndim - 1))
    first, second = (torch.randperm(n, device=codes.device) for _ in range(2))
    return weights[:, 0] * codes[first] + weights[:, 1] * codes[second]


@torch.no_grad()
def _generate(
    model: SequentialVAE, x: torch.Tensor, mode: str, partner: torch.Tensor
) -> torch.Tensor:
    latents = model.encode(x)
    static, dynamic = latents.static_to_decode, latents.dynamic.mean
    has_priors = hasattr(model, "sample_static")
    if mode == "sample_static":
        drawn = model.sample_static(len(x)) if has_priors else convex_mixture(static)
        return model.decode(drawn, dynamic)
    if mode == "sample_dynamic":
        drawn = model.sample_dynamic(len(x), x.shape[1]) if has_priors else convex_mixture(dynamic)
        return model.decode(static, drawn)
    return model.decode(static[partner], dynamic)


@torch.no_grad()
def sequential_protocol(
    model: SequentialVAE,
    judge: SequenceJudge,
    data: SequenceData,
    niter: int = 5,
    batch_size: int = 128,
    seed: int = 0,
) -> dict[str, float]:
    """Judge accuracies per mode and factor, and IS / H(y|x) / H(y), as ``mean`` and ``std``.

    Keys: ``<mode>/acc/<factor>``, ``<mode>/is``, ``<mode>/h_yx``, ``<mode>/h_y``, each with
    a ``_std`` twin. For ``swap``, static factors are scored against the static donor.
    """
    if len(data) < batch_size:
        raise UnweaveError(
            f"The sequential protocol needs at least batch_size={batch_size} clips; "
            f"'{data.name}/{data.split}' has {len(data)}."
        )
    model.eval()
    judge.eval()
    device = next(model.parameters()).device
    judge.to(device)
    names = factor_names(data)
    n_static = len(data.static)
    labels = np.stack([{**data.static, **data.dynamic}[n] for n in names], 1)
    first_dynamic = names[n_static]
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    per_pass: dict[str, list[float]] = {}
    for _ in range(niter):
        order = rng.permutation(len(data))
        n_batches = len(data) // batch_size
        batch_acc = {mode: np.zeros((n_batches, len(names))) for mode in MODES}
        probs = {mode: [] for mode in MODES}
        truth = []
        for b in range(n_batches):
            index = np.sort(order[b * batch_size : (b + 1) * batch_size])
            x = prepare_frames(
                torch.from_numpy(np.asarray(data.x[index])).to(device), model.config.image_size
            )
            partner = torch.roll(torch.arange(len(index), device=device), 1)
            expected = {mode: labels[index] for mode in MODES}
            expected["swap"] = labels[index].copy()
            expected["swap"][:, :n_static] = labels[index][partner.cpu().numpy(), :n_static]
            truth.append(labels[index, n_static])
            for mode in MODES:
                logits = judge(_generate(model, x, mode, partner))
                for i, name in enumerate(names):
                    predicted = logits[name].argmax(-1).cpu().numpy()
                    batch_acc[mode][b, i] = (predicted == expected[mode][:, i]).mean()
                probs[mode].append(torch.softmax(logits[first_dynamic], -1).cpu().numpy())
        keep = balanced_subset(np.concatenate(truth))
        for mode in MODES:
            for i, name in enumerate(names):
                per_pass.setdefault(f"{mode}/acc/{name}", []).append(
                    float(batch_acc[mode][:, i].mean())
                )
            for key, value in inception_scores(np.concatenate(probs[mode])[keep]).items():
                per_pass.setdefault(f"{mode}/{key}", []).append(value)
    result = {}
    for key, values in per_pass.items():
        result[key] = float(np.mean(values))
        result[f"{key}_std"] = float(np.std(values))
    return result
