"""Run configuration: packaged presets, ``--set`` overrides and validation of every key.

A config is a nested dict with the sections ``method``, ``data``, ``model``, ``optim``,
``train`` and ``trainer``. Presets live in ``unweave/presets/<method>-<data>.yaml``, one file
per (method, data set) with a ``paper`` and a ``cpu`` entry (and sometimes more).
"""

from __future__ import annotations

import copy
import math
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from unweave.data.registry import data_modality
from unweave.errors import UnweaveError, check_known_keys
from unweave.models import model_class
from unweave.settings import check_number, is_number

#: Every section's known keys and defaults. ``model`` keys are validated by the model's config
#: dataclass and ``data.options`` by the data family's loader.
DEFAULTS: dict[str, dict[str, Any]] = {
    "data": {"name": None, "root": None, "options": {}},
    "model": {},
    # name: "adam" or "adamw"; a model with ``lr_lambda(epoch)`` also gets that schedule.
    # schedule: "constant" (every paper's recipe here) or "cosine" (to 0 over the run's steps).
    "optim": {
        "name": "adam",
        "lr": 2e-3,
        "betas": [0.9, 0.999],
        "weight_decay": 0.0,
        "schedule": "constant",
    },
    "train": {
        "batch_size": 128,
        "drop_last": True,  # drop the last incomplete batch of an epoch
        "max_epochs": 1,
        "max_steps": -1,
        "seed": 1,
        "checkpoint_every_n_epochs": 1,
        # > 0: rewrite the checkpoint every that many steps instead (for runs whose epochs are
        # long, e.g. the 11,520 steps of a dSprites epoch); a resumed run continues mid-epoch.
        "checkpoint_every_n_steps": 0,
        # Steps at which to keep a checkpoint for good (checkpoints/step-<N>.ckpt), e.g.
        # [500, 1000, 2000]: 'unweave evaluate --checkpoints all' scores each one.
        "keep_checkpoints_at": [],
        "log_every_n_steps": 10,
        # true: the loss is run through torch.compile (models trained by the plain loop;
        # it pays only where its compile time is earned back: docs/performance.md).
        "compile": False,
    },
    "trainer": {
        "accelerator": "auto",
        "devices": "auto",
        "num_nodes": 1,
        "strategy": "auto",
        "precision": "32-true",
    },
}


OPTIMISERS = ("adam", "adamw")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
PRECISIONS = (
    "32-true", "32", "16-mixed", "16", "bf16-mixed", "bf16", "16-true", "bf16-true",
    "64-true", "64",
)  # fmt: skip
SCHEDULES = ("constant", "cosine")


def preset_path(method: str, data: str) -> Path:
    """The packaged preset file for ``(method, data)``."""
    return Path(str(resources.files("unweave") / "presets" / f"{method}-{data}.yaml"))


def available_presets() -> list[str]:
    """Names ``<method>-<data>`` of every packaged preset file."""
    folder = Path(str(resources.files("unweave") / "presets"))
    return sorted(p.stem for p in folder.glob("*.yaml"))


def split_preset_name(name: str) -> tuple[str, str]:
    """A preset file's stem ``<method>-<data>`` -> ``(method, data)``; both may hold hyphens,
    so the method is the known one the name starts with."""
    from unweave.models import MODELS

    methods = {m for models in MODELS.values() for m in models}
    (method,) = [m for m in methods if name.startswith(f"{m}-")]
    return method, name[len(method) + 1 :]


def load_preset(method: str, data: str, preset: str) -> dict[str, Any]:
    """The preset ``preset`` (e.g. ``cpu`` or ``paper``) for ``method`` on ``data``."""
    cls = model_class(method, data_modality(data))  # fails for an unknown method or data set
    path = preset_path(method, data)
    own = getattr(cls, "presets", None)  # a registered method's presets, for any data set
    if not path.exists() and own is not None:
        if preset not in own:
            raise UnweaveError(
                f"Preset '{preset}' is not among {method}'s presets; expected one of: "
                f"{', '.join(own)}."
            )
        return own[preset]
    if not path.exists():
        raise UnweaveError(
            f"No preset file for method '{method}' on data '{data}' ({path.name}); "
            f"available: {', '.join(available_presets())}."
        )
    return _preset_entry(path, preset)


def _preset_entry(path: Path, preset: str) -> dict[str, Any]:
    """Entry ``preset`` of a preset file; ``extends: <stem>`` merges it over that file's entry."""
    entries = yaml.safe_load(path.read_text())
    base = entries.pop("extends", None)
    if preset not in entries:
        raise UnweaveError(
            f"Preset '{preset}' is not in {path.name}; expected one of: {', '.join(entries)}."
        )
    if base is None:
        return entries[preset]
    return merge(_preset_entry(path.with_name(f"{base}.yaml"), preset), entries[preset])


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["model.f_dim=128", "train.max_epochs=3"]`` -> a nested dict (values parsed as YAML)."""
    nested: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UnweaveError(f"--set '{pair}' has no '='; expected SECTION.KEY=VALUE.")
        key, _, raw = pair.partition("=")
        parts = key.strip().split(".")
        if len(parts) < 2 or not all(parts):
            raise UnweaveError(f"--set '{pair}': expected SECTION.KEY=VALUE, e.g. model.f_dim=128.")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = _scalar(raw)
    return nested


def _scalar(raw: str) -> Any:
    """A ``--set`` value parsed as YAML, except that numbers YAML 1.1 reads as strings
    (``4e-3``, ``1E5``) are floats."""
    value = yaml.safe_load(raw)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    return value


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; ``update`` wins. Neither argument is modified."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """Check every section and key; returns ``config`` with defaults filled in."""
    check_known_keys("config", config, {"method", *DEFAULTS})
    full = merge(DEFAULTS, config)
    for section, defaults in DEFAULTS.items():
        if not isinstance(full[section], dict):
            raise UnweaveError(f"Setting '{section}' must be a mapping of keys to values.")
        if defaults:
            check_known_keys(section, full[section], set(defaults))
    if not isinstance(full["data"]["options"], dict):
        raise UnweaveError(
            f"data.options is {full['data']['options']!r}; expected a mapping such as "
            "{seq_len: 8} (or --set data.options.KEY=VALUE)."
        )
    modality = data_modality(full["data"]["name"])
    cls = model_class(full.get("method"), modality)
    cls.config_class.from_dict(full["model"])
    if full["optim"]["name"] not in OPTIMISERS:
        raise UnweaveError(
            f"optim.name is {full['optim']['name']!r}; expected one of: {', '.join(OPTIMISERS)}."
        )
    schedule = full["optim"]["schedule"]
    if schedule not in SCHEDULES:
        raise UnweaveError(
            f"optim.schedule is {schedule!r}; expected one of: {', '.join(SCHEDULES)}."
        )
    own_loop = hasattr(cls, "training_module")  # several optimisers, stepped by the model
    if schedule != "constant" and (own_loop or hasattr(cls, "lr_lambda")):
        raise UnweaveError(
            f"optim.schedule is {schedule!r}, but {full['method']} sets its own learning "
            "rates; leave it constant."
        )
    check_run_settings(full)
    if full["train"]["compile"] and own_loop:
        raise UnweaveError(
            f"train.compile is not available for {full['method']}, which trains with its own "
            "loop of several optimisers; leave it false."
        )
    return full


def check_run_settings(full: dict[str, Any]) -> None:
    """One sentence for the first ``optim``, ``train`` or ``trainer`` value of the wrong type
    or out of range (the ``model`` section is checked by the model's config class)."""
    optim, train, trainer = full["optim"], full["train"], full["trainer"]
    lr = optim["lr"]
    if not is_number(lr) or lr <= 0:
        raise UnweaveError(f"optim.lr is {lr!r}; expected a number > 0, e.g. 1e-3.")
    betas = optim["betas"]
    if not (
        isinstance(betas, (list, tuple))
        and len(betas) == 2
        and all(is_number(b) and 0 <= b < 1 for b in betas)
    ):
        raise UnweaveError(
            f"optim.betas is {betas!r}; expected two numbers in [0, 1), e.g. [0.9, 0.999]."
        )
    check_number("optim.weight_decay", optim["weight_decay"], low=0)
    for key in ("batch_size", "max_epochs", "checkpoint_every_n_epochs", "log_every_n_steps"):
        check_number(f"train.{key}", train[key], whole=True, low=1)
    check_number("train.seed", train["seed"], whole=True, low=0)
    check_number(
        "train.checkpoint_every_n_steps", train["checkpoint_every_n_steps"], whole=True, low=0
    )
    kept = train["keep_checkpoints_at"]
    if not isinstance(kept, list) or not all(is_number(s, whole=True) and s >= 1 for s in kept):
        raise UnweaveError(
            f"train.keep_checkpoints_at is {kept!r}; expected a list of steps >= 1, e.g. "
            "[500, 1000, 2000]."
        )
    if not is_number(train["max_steps"], whole=True) or not (
        train["max_steps"] == -1 or train["max_steps"] >= 1
    ):
        raise UnweaveError(
            f"train.max_steps is {train['max_steps']!r}; expected an integer >= 1, or -1 "
            "(no limit: train.max_epochs decides)."
        )
    for key in ("drop_last", "compile"):
        if not isinstance(train[key], bool):
            raise UnweaveError(f"train.{key} is {train[key]!r}; expected true or false.")
    for key, allowed in (("accelerator", ACCELERATORS), ("precision", PRECISIONS)):
        if str(trainer[key]) not in allowed or isinstance(trainer[key], bool):
            raise UnweaveError(
                f"trainer.{key} is {trainer[key]!r}; expected one of: {', '.join(allowed)}."
            )
    devices = trainer["devices"]
    if not (
        devices == "auto"
        or (is_number(devices, whole=True) and (devices >= 1 or devices == -1))
        or (
            isinstance(devices, list)
            and devices
            and all(is_number(d, whole=True) and d >= 0 for d in devices)
        )
    ):
        raise UnweaveError(
            f"trainer.devices is {devices!r}; expected auto, a count >= 1 (-1: all), or a list "
            "of device indices such as [0, 1]."
        )
    check_number("trainer.num_nodes", trainer["num_nodes"], whole=True, low=1)
    if not isinstance(trainer["strategy"], str):
        raise UnweaveError(
            f"trainer.strategy is {trainer['strategy']!r}; expected a name such as auto or ddp."
        )


def resolve(
    method: str, data: str, preset: str, root: str | None = None, overrides: list[str] = ()
) -> dict[str, Any]:
    """Preset + data choice + ``--set`` overrides -> a validated full config."""
    config = merge(load_preset(method, data, preset), {"method": method, "data": {"name": data}})
    if root is not None:
        config = merge(config, {"data": {"root": str(root)}})
    config = merge(config, parse_overrides(list(overrides)))
    return validate(config)
