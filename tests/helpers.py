"""Helpers shared by the tests (importable as `helpers`)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from unweave.data.audio import segments
from unweave.data.base import SequenceData
from unweave.data.timeseries import SeriesData

#: Debian's Chromium, for the browser tests (scripts/dev.sh installs it).
CHROMIUM = Path("/usr/bin/chromium")
#: A model small enough to train in seconds on 16x16 frames.
TINY_MODEL = [
    "model.image_size=16",
    "model.base_channels=8",
    "model.g_dim=32",
    "model.f_dim=16",
    "model.z_dim=8",
    "model.rnn_size=16",
]


def random_clips(n: int = 48, size: int = 16, seed: int = 0) -> SequenceData:
    """Random uint8 clips ``(n, 8, 3, size, size)`` with one static and one dynamic label."""
    rng = np.random.default_rng(seed)
    return SequenceData(
        x=rng.integers(0, 256, (n, 8, 3, size, size), dtype=np.uint8),
        static={"colour": rng.integers(0, 6, n)},
        dynamic={"action": rng.integers(0, 9, n)},
        factor_sizes={"colour": 6, "action": 9},
        name="random",
        split="train",
    )


def reference_judge_state(seed: int = 0, hidden: int = 256) -> dict[str, torch.Tensor]:
    """A state dict with the key names and shapes of C-DSVAE's ``classifier_Sprite_all``
    (``model.py:369``: DCGAN ``encoder`` c1-c5 with nf 64 and g 128, ``bilstm``, five heads
    ``Linear(2 * hidden, hidden)``, ReLU, ``Linear(hidden, values)``), random values."""
    generator = torch.Generator().manual_seed(seed)
    shapes: dict[str, tuple[int, ...]] = {}
    widths = [3, 64, 128, 256, 512]
    for k in range(1, 5):
        shapes[f"encoder.c{k}.main.0.weight"] = (widths[k], widths[k - 1], 4, 4)
        shapes[f"encoder.c{k}.main.0.bias"] = (widths[k],)
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"encoder.c{k}.main.1.{name}"] = (widths[k],)
        shapes[f"encoder.c{k}.main.1.num_batches_tracked"] = ()
    shapes["encoder.c5.0.weight"], shapes["encoder.c5.0.bias"] = (128, 512, 4, 4), (128,)
    for name in ("weight", "bias", "running_mean", "running_var"):
        shapes[f"encoder.c5.1.{name}"] = (128,)
    shapes["encoder.c5.1.num_batches_tracked"] = ()
    for suffix in ("", "_reverse"):
        shapes[f"bilstm.weight_ih_l0{suffix}"] = (4 * hidden, 128)
        shapes[f"bilstm.weight_hh_l0{suffix}"] = (4 * hidden, hidden)
        shapes[f"bilstm.bias_ih_l0{suffix}"] = (4 * hidden,)
        shapes[f"bilstm.bias_hh_l0{suffix}"] = (4 * hidden,)
    for head, values in (("skin", 6), ("top", 6), ("pant", 6), ("hair", 6), ("action", 9)):
        shapes[f"cls_{head}.0.weight"], shapes[f"cls_{head}.0.bias"] = (
            (hidden, 2 * hidden),
            (hidden,),
        )
        shapes[f"cls_{head}.2.weight"], shapes[f"cls_{head}.2.bias"] = (values, hidden), (values,)
    state = {}
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=generator) + 0.5
        else:
            state[key] = 0.05 * torch.randn(shape, generator=generator)
    return state


def weighted_grads(module: torch.nn.Module, output: torch.Tensor) -> list[torch.Tensor]:
    """The parameter gradients of a fixed weighted sum of ``output`` (a ramp over its elements)."""
    module.zero_grad()
    (output * torch.linspace(-1, 1, output.numel()).view_as(output)).sum().backward()
    return [p.grad.clone() for p in module.parameters()]


#: Segment length and shift of :func:`cut_utterances`.
SEGMENT, SHIFT = 5, 2


def cut_utterances(lengths: list[int], shift: int = SHIFT, **meta) -> tuple[SeriesData, list]:
    """Utterances whose frame ``t`` of utterance ``u`` holds ``(u, t)``, cut into segments of
    ``SEGMENT`` frames every ``shift``; returns the data and each utterance's frames."""
    frames = [
        np.stack([np.full(t_len, u), np.arange(t_len)], 1).astype(np.float32)
        for u, t_len in enumerate(lengths)
    ]
    cuts = [segments(f, SEGMENT, shift) for f in frames]
    x = np.concatenate(cuts)
    utterance = np.concatenate([np.full(len(c), u) for u, c in enumerate(cuts)])
    data = SeriesData(
        x=x,
        mask=np.ones(x.shape, bool),
        feature_names=["u", "t"],
        name="toy",
        split="train",
        groups={"utterance": utterance},
        meta={"shift": shift, "chunk_samples": None, **meta},
    )
    return data, frames


def toy_speech(
    n_speakers: int,
    utterances: int,
    segments: int,
    phones: torch.Tensor,
    g: torch.Generator,
    with_phones: bool = False,
) -> tuple[torch.Tensor, ...]:
    """Segments ``(n_speakers * utterances * segments, 10, 6)``: a speaker offset (std 0.4,
    constant over the speaker's utterances) + one of 4 shared "phone" patterns (std 1.5) drawn
    per segment + frame noise (std 0.2). Returns segments, their utterance, utterance
    speakers, and with ``with_phones`` each segment's phone."""
    offsets = 0.4 * torch.randn(n_speakers, 6, generator=g)
    speaker = torch.arange(n_speakers).repeat_interleave(utterances)
    utterance = torch.arange(len(speaker)).repeat_interleave(segments)
    phone = torch.randint(0, len(phones), (len(utterance),), generator=g)
    noise = 0.2 * torch.randn(len(utterance), 10, 6, generator=g)
    x = offsets[speaker[utterance]][:, None] + phones[phone] + noise
    return (x, utterance, speaker, phone) if with_phones else (x, utterance, speaker)


def chromium() -> Path:
    """The Chromium binary; skipped when it is absent, but a failure on CI."""
    if CHROMIUM.exists():
        return CHROMIUM
    message = (
        f"{CHROMIUM} is missing; install it with "
        "'apt-get update && apt-get install -y chromium' (Debian package chromium)."
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


#: The toy sprites of the tiny sequential runs: 600 clips of 16x16 to train, 200 to probe.
TOY_OPTIONS = {"size": 16, "n_train": 600, "n_test": 200}


def tiny_toy_run(
    method: str, model: dict, folder: Path, epochs: int = 12, extra: tuple[str, ...] = ()
) -> tuple[Path, torch.nn.Module, dict[str, float]]:
    """Train ``method`` with ``model`` settings on the tiny toy sprites (batch 32) and probe
    it: ``(run folder, loaded model, probe report)``."""
    from unweave.data.registry import load_data
    from unweave.export import load
    from unweave.metrics.probes import probe_report
    from unweave.training.config import resolve
    from unweave.training.run import train

    overrides = [f"model.{k}={v}" for k, v in model.items()]
    overrides += [f"data.options.{k}={v}" for k, v in TOY_OPTIONS.items()]
    overrides += [f"train.max_epochs={epochs}", "train.batch_size=32", *extra]
    config = resolve(method, "toy-sprites", "cpu", overrides=overrides)
    run = train(config, folder, enable_progress_bar=False)
    loaded = load(run)
    splits = (load_data("toy-sprites", split, None, **TOY_OPTIONS) for split in ("train", "test"))
    return run, loaded, probe_report(loaded, *splits)
