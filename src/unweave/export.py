"""Exported weights in the hub layout: ``config.json`` (what the model is) +
``model.safetensors`` + a ``README.md`` model card, loaded without pickle. Folders written
before this layout hold ``model.json`` instead of ``config.json``; they load the same way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from unweave.atomic import write_atomic
from unweave.errors import UnweaveError
from unweave.models import build_model

FORMAT_VERSION = 1


#: The model description of an export, and the name older exports gave it.
INFO_NAME, LEGACY_INFO_NAME = "config.json", "model.json"


def info_path(run_dir: str | Path) -> Path:
    """``config.json`` of an export, or ``model.json`` where only that exists (older runs)."""
    path = Path(run_dir) / INFO_NAME
    legacy = Path(run_dir) / LEGACY_INFO_NAME
    return legacy if not path.exists() and legacy.exists() else path


def export_model(model: torch.nn.Module, run_dir: Path, info: dict[str, Any]) -> None:
    """Write ``run_dir/model.safetensors``, ``run_dir/config.json`` and the ``README.md``
    model card (each atomically).

    ``info`` holds what a user of the weights needs besides them (data set, factor sizes).
    """
    run_dir = Path(run_dir)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {
        "format_version": FORMAT_VERSION,
        "method": model.name,
        "modality": model.modality,
        "model": model.export_config(),
        **info,
    }
    weights = save(state, metadata={"format_version": str(FORMAT_VERSION)})
    write_atomic(run_dir / "model.safetensors", weights)
    write_atomic(run_dir / INFO_NAME, json.dumps(meta, indent=1))
    from unweave.model_card import write_model_card

    write_model_card(run_dir)


def read_model_info(run_dir: str | Path) -> dict[str, Any]:
    """The parsed ``config.json`` (or older ``model.json``) of an export, with a clear error
    when it is missing or broken."""
    path = info_path(run_dir)
    if not Path(run_dir).is_dir():
        raise UnweaveError(f"Run directory {run_dir} does not exist.")
    if not path.exists():
        raise UnweaveError(
            f"{path} is missing; expected a finished run of 'unweave train' "
            "(resume an unfinished one with --resume; 'unweave evaluate RUN --checkpoints last' "
            "scores it as it stands)."
        )
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        where = f"{err.msg} at line {err.lineno}" if hasattr(err, "lineno") else "not UTF-8"
        raise UnweaveError(f"{path} is not valid JSON ({where}).") from None
    expected = f"expected the {path.name} written by 'unweave train'"
    if not isinstance(info, dict):
        raise UnweaveError(f"{path} holds a JSON {type(info).__name__}, not an object; {expected}.")
    missing = [repr(key) for key in ("method", "model") if key not in info]
    if missing:
        raise UnweaveError(f"{path} has no {' or '.join(missing)}; {expected}.")
    return info


def load(run_dir: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The trained model of ``run_dir`` in eval mode, from its safetensors export (no pickle)."""
    info = read_model_info(run_dir)
    weights = Path(run_dir) / "model.safetensors"
    if not weights.exists():
        raise UnweaveError(f"{weights} is missing; expected the weights exported by unweave train.")
    try:
        model = build_model(info["method"], info["model"], info.get("modality", "video"))
    except UnweaveError as err:
        raise UnweaveError(
            f"{info_path(run_dir)} does not describe a model unweave builds: {err}"
        ) from None
    try:
        state = load_file(str(weights), device=str(device))
    except (SafetensorError, OSError, ValueError) as err:
        raise UnweaveError(f"{weights} is not a readable safetensors file ({err}).") from None
    load_weights(
        model, state, f"{weights} does not match the model described in {info_path(run_dir).name}"
    )
    return model.to(device).eval()


def load_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], mismatch: str) -> None:
    """Load ``state`` into ``model``; a missing, extra or misshapen weight is one sentence:
    ``mismatch``, then torch's first line about it."""
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if "\n" in str(err) else str(err)
        raise UnweaveError(f"{mismatch} ({first}).") from None


def load_checkpoint(
    run_dir: str | Path, checkpoint: str | Path, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, int, float | None]:
    """The model of one training checkpoint of ``run_dir`` in eval mode, with the global step
    it was saved at and its training seconds (None when it stored none); the model is built
    from the run's ``config.yaml``, so a run still training can be scored. No pickle runs."""
    from unweave.data.registry import data_modality
    from unweave.training.milestones import checkpoint_seconds
    from unweave.training.run import read_checkpoint, read_run_config

    config = read_run_config(run_dir)
    model = build_model(config["method"], config["model"], data_modality(config["data"]["name"]))
    state = read_checkpoint(Path(checkpoint))
    weights = {
        k[len("model.") :]: v for k, v in state["state_dict"].items() if k.startswith("model.")
    }
    where = Path(run_dir) / "config.yaml"
    load_weights(model, weights, f"Checkpoint {checkpoint} does not hold the model of {where}")
    step = int(state.get("global_step", 0))
    return model.to(device).eval(), step, checkpoint_seconds(state)
