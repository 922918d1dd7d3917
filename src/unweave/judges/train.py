"""Training, caching and loading judges: one per (data set, frame size), trained on its labels.

A judge lives in ``$UNWEAVE_CACHE/judges/<key>/`` as ``judge.safetensors`` + ``judge.json``
(config, data identity, test accuracy per factor); it is loaded without pickle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from unweave.data.base import SequenceData
from unweave.data.cache import cache_key, cache_root, cached_build
from unweave.data.registry import load_data
from unweave.errors import UnweaveError
from unweave.judges.sequence import JudgeConfig, SequenceJudge
from unweave.nn.frames import prepare_frames
from unweave.training.datamodule import SequenceDataModule

#: Judge training settings: Adam 1e-3, batch 128 (the published judge's weights are public,
#: its training recipe is not; these are unweave's, chosen to reach >= 99% on every Sprites
#: factor). ``unweave judge import`` brings the published weights instead.
DEFAULT_TRAINING = {"epochs": 4, "batch_size": 128, "lr": 1e-3, "seed": 1}
#: Where a cached judge came from: trained here, or the published reference weights.
JUDGE_SOURCES = ("trained", "published")


def factor_names(data: SequenceData) -> list[str]:
    """Static then dynamic factor names: the order of a batch's label columns."""
    return [*data.static, *data.dynamic]


class JudgeModule(pl.LightningModule):
    """Cross-entropy summed over factors."""

    def __init__(self, config: JudgeConfig, lr: float) -> None:
        super().__init__()
        self.judge = SequenceJudge(config)
        self.lr = lr

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x = prepare_frames(batch["x"], self.judge.config.image_size)
        labels = torch.cat([batch["static"], batch["dynamic"]], dim=1)
        logits = self.judge(x)
        loss = sum(F.cross_entropy(out, labels[:, i]) for i, out in enumerate(logits.values()))
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            self.log("loss", loss, prog_bar=True, batch_size=x.shape[0])
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.judge.parameters(), lr=self.lr)


@torch.no_grad()
def judge_accuracy(
    judge: SequenceJudge, data: SequenceData, batch_size: int = 256
) -> dict[str, float]:
    """Accuracy per factor of ``judge`` on the real clips of ``data``."""
    judge.eval()
    device = next(judge.parameters()).device
    names = factor_names(data)
    labels = np.stack([{**data.static, **data.dynamic}[n] for n in names], 1)
    correct = np.zeros(len(names))
    for start in range(0, len(data), batch_size):
        frames = torch.from_numpy(np.asarray(data.x[start : start + batch_size])).to(device)
        logits = judge(prepare_frames(frames, judge.config.image_size))
        for i, name in enumerate(names):
            predicted = logits[name].argmax(-1).cpu().numpy()
            correct[i] += (predicted == labels[start : start + batch_size, i]).sum()
    return {name: float(c / len(data)) for name, c in zip(names, correct, strict=True)}


def judge_params(
    data: dict[str, Any], image_size: int, training: dict[str, Any] | str
) -> dict[str, Any]:
    """The cache identity of a judge: its data, frame size and training (settings, or
    ``"published"`` for the imported reference judge)."""
    root = data.get("root")
    return {
        "data": data["name"],
        "root": str(Path(root).resolve()) if root else None,
        "options": data.get("options", {}),
        "image_size": image_size,
        "training": training,
    }


def train_judge(
    data: dict[str, Any], image_size: int, training: dict[str, Any] | None = None, **trainer_args
) -> Path:
    """Train (or find in the cache) the judge for ``data`` (``{"name", "root", "options"}``).

    Returns the cache folder holding ``judge.safetensors`` and ``judge.json``.
    """
    training = {**DEFAULT_TRAINING, **(training or {})}
    params = judge_params(data, image_size, training)

    def build(folder: Path) -> None:
        root, options = data.get("root"), data.get("options", {})
        train_split = load_data(data["name"], "train", root, **options)
        test_split = load_data(data["name"], "test", root, **options)
        config = JudgeConfig(
            factor_sizes={n: train_split.factor_sizes[n] for n in factor_names(train_split)},
            image_size=image_size,
            channels=train_split.frame_shape[0],
        )
        pl.seed_everything(training["seed"], verbose=False)
        module = JudgeModule(config, training["lr"])
        loop = {
            "data": {},
            "train": {
                "batch_size": training["batch_size"],
                "seed": training["seed"],
                "drop_last": True,
            },
        }
        trainer = pl.Trainer(
            max_epochs=training["epochs"],
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            use_distributed_sampler=False,
            default_root_dir=str(folder),
            log_every_n_steps=10,
            **trainer_args,
        )
        trainer.fit(module, datamodule=SequenceDataModule(loop, train_split))
        accuracy = judge_accuracy(module.judge, test_split)
        save_file(
            {k: v.contiguous() for k, v in module.judge.state_dict().items()},
            str(folder / "judge.safetensors"),
        )
        info = {"config": module.judge.export_config(), "params": params, "test_accuracy": accuracy}
        (folder / "judge.json").write_text(json.dumps(info, indent=1))

    return cached_build("judges", params, build)


def load_judge(
    data: dict[str, Any],
    image_size: int,
    training: dict[str, Any] | None = None,
    hint: str | None = None,
    source: str = "trained",
) -> tuple[SequenceJudge, dict[str, Any]]:
    """The cached judge for ``data`` at ``image_size`` and its ``judge.json``; eval mode.

    ``source`` is ``"trained"`` (by ``unweave judge train`` with ``training``) or
    ``"published"`` (the reference judge, by ``unweave judge import``); ``hint`` is the
    command the error message suggests when no trained judge is cached.
    """
    if source not in JUDGE_SOURCES:
        raise UnweaveError(f"The judge is '{source}'; expected one of {', '.join(JUDGE_SOURCES)}.")
    published = source == "published"
    training = "published" if published else {**DEFAULT_TRAINING, **(training or {})}
    params = judge_params(data, image_size, training)
    folder = cache_root() / "judges" / cache_key(params)
    if not (folder / "judge.json").exists():
        root = f" --root {data['root']}" if data.get("root") else ""
        if published:
            how = f"unweave judge import sprite_judge.tar --data {data['name']}{root}"
        else:
            how = (
                hint or f"unweave judge train --data {data['name']} --image-size {image_size}{root}"
            )
        raise UnweaveError(
            f"No {source} judge for data '{data['name']}' at {image_size}x{image_size} in the "
            f"cache ({folder.parent}); {'import' if published else 'train'} one with: {how}"
        )
    info = json.loads((folder / "judge.json").read_text())
    config = JudgeConfig(**info["config"])
    judge = SequenceJudge(config)
    judge.load_state_dict(load_file(str(folder / "judge.safetensors")))
    return judge.eval(), info
