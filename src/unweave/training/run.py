"""A training run: its folder, its Trainer, resuming, and the export at the end.

``runs/<name>/`` holds ``config.yaml`` (the resolved config), ``env.json`` (versions, seed,
hardware), ``checkpoints/`` (``last.ckpt`` always; ``step-<N>.ckpt`` at the steps of
``train.keep_checkpoints_at``), ``metrics.csv``, ``tensorboard/`` and, when
training finishes, ``model.safetensors`` + ``config.json`` + the ``README.md`` model card.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import pickle
import platform
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
import yaml
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import DataLoader, Subset

from unweave.atomic import atomic_file, remove_stale_temporaries, write_atomic
from unweave.data.base import SequenceData
from unweave.data.fragments import FragmentData
from unweave.data.ground_truth import GroundTruthImages
from unweave.data.timeseries import SeriesData
from unweave.errors import UnweaveError
from unweave.export import export_model
from unweave.paths import check_writable_folder, os_error_sentence
from unweave.training.datamodule import SequenceDataModule
from unweave.training.guards import FiniteGuard
from unweave.training.milestones import KeepCheckpoints, TrainingClock, checkpoint_seconds
from unweave.training.module import build_module

LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"


class RNGStateCheckpoint(Callback):
    """Stores the global torch RNG states in checkpoints, so a resumed run draws the same noise."""

    def state_dict(self) -> dict[str, Any]:
        state = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        torch.set_rng_state(state_dict["torch"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint whole or not at all (:func:`unweave.atomic.atomic_file`): a
    failed write (a full disk, a kill) leaves the previous checkpoint as it was."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(path) as handle:
                torch.save(checkpoint, handle)
        except OSError as err:
            raise UnweaveError(
                f"Could not write checkpoint {path} ({err.strerror or err}); the previous "
                "checkpoint, if any, is kept: free space and continue with --resume."
            ) from None


def environment(config: dict[str, Any]) -> dict[str, Any]:
    """Versions, hardware and seed of this run, for ``env.json``."""
    import lightning
    import numpy

    from unweave import __version__

    return {
        "unweave": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "seed": config["train"]["seed"],
        "argv": sys.argv,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def data_info(
    data: SequenceData | SeriesData | FragmentData | GroundTruthImages,
) -> dict[str, Any]:
    """What a user of exported weights needs to know about the training data."""
    if isinstance(data, GroundTruthImages):
        return {
            "data": {
                "name": data.name,
                "image_shape": list(data.x.shape[1:]),
                "factor_names": list(data.factor_names),
                "factor_sizes": list(data.factor_sizes),
            }
        }
    if isinstance(data, FragmentData):
        return {
            "data": {
                "name": data.name,
                "fragment_shape": list(data.x.shape[1:]),
                "value_names": data.meta.get("value_names", {}),
            }
        }
    if isinstance(data, SeriesData):
        return {
            "data": {
                "name": data.name,
                "seq_len": data.seq_len,
                "feature_names": list(data.feature_names),
                "static_factors": list(data.static),
                "targets": list(data.targets),
            }
        }
    return {
        "data": {
            "name": data.name,
            "seq_len": data.seq_len,
            "frame_shape": list(data.frame_shape),
            "static_factors": list(data.static),
            "dynamic_factors": list(data.dynamic),
            "factor_sizes": data.factor_sizes,
            "value_names": data.value_names,
        }
    }


def read_run_config(run_dir: Path) -> dict[str, Any]:
    """The ``config.yaml`` of an existing run."""
    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        raise UnweaveError(f"{path} is missing; expected a run folder written by 'unweave train'.")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        mark = getattr(err, "problem_mark", None)
        where = f"at line {mark.line + 1}" if mark else "not UTF-8 text"
        raise UnweaveError(
            f"{path} is not valid YAML ({where}); expected the run's config."
        ) from None
    if not isinstance(config, dict) or not isinstance(config.get("data"), dict):
        raise UnweaveError(
            f"{path} does not hold a run config (a mapping with method, data, model, optim, "
            "train and trainer); expected the config.yaml written by 'unweave train'."
        )
    return config


def load_run_data(
    run_dir: Path, split: str, root: str | Path | None = None
) -> SequenceData | SeriesData:
    """The ``split`` of the data set a run was trained on (``root`` overrides the config's)."""
    from unweave.data.registry import load_data

    data = read_run_config(run_dir)["data"]
    return load_data(data["name"], split, root or data.get("root"), **(data.get("options") or {}))


def build_trainer(
    config: dict[str, Any], run_dir: Path, extra_callbacks: list[Callback] = (), **overrides: Any
) -> pl.Trainer:
    """A Lightning Trainer with checkpoints, CSV + TensorBoard logs and the configured devices.

    ``overrides`` replace Trainer arguments; ``extra_callbacks`` are added to unweave's own.
    """
    train, hw = config["train"], config["trainer"]
    # One file, checkpoints/last.ckpt, rewritten every checkpoint_every_n_epochs epochs (or
    # checkpoint_every_n_steps steps). Since Lightning 2.6, save_last=True writes "last" only
    # when a top-k file was saved in the same step, so save_top_k=0 with save_last=True never
    # wrote it mid-run; the latest (top-1, no monitor) checkpoint under the name "last" does.
    every_steps, kept = train["checkpoint_every_n_steps"], train["keep_checkpoints_at"]
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / LAST_CHECKPOINT.parent,
        filename=LAST_CHECKPOINT.stem,
        save_top_k=1,
        enable_version_counter=False,
        every_n_epochs=None if every_steps else train["checkpoint_every_n_epochs"],
        every_n_train_steps=every_steps or None,
    )
    settings = {
        "max_epochs": train["max_epochs"],
        "max_steps": train["max_steps"],
        "log_every_n_steps": train["log_every_n_steps"],
        "accelerator": hw["accelerator"],
        "devices": hw["devices"],
        "num_nodes": hw["num_nodes"],
        "strategy": hw["strategy"],
        "precision": hw["precision"],
        "default_root_dir": str(run_dir),
        "callbacks": [
            checkpoint,
            RNGStateCheckpoint(),
            FiniteGuard(run_dir / LAST_CHECKPOINT),
            TrainingClock(),
            *([KeepCheckpoints(run_dir / LAST_CHECKPOINT.parent, kept)] if kept else []),
            *extra_callbacks,
        ],
        "logger": [
            CSVLogger(run_dir, name="", version=""),
            TensorBoardLogger(run_dir, name="tensorboard", version="", default_hp_metric=False),
        ],
        "plugins": [AtomicCheckpointIO()],
        "use_distributed_sampler": False,  # SequenceDataModule shards by rank itself
        "num_sanity_val_steps": 0,
        "enable_model_summary": False,
        **overrides,
    }
    return pl.Trainer(**settings)


#: Settings a resumed run may change: how long it trains, how it logs and checkpoints, where
#: it runs and where its data is. Anything else would not match the checkpoint's state.
RESUMABLE = (
    "train.max_epochs",
    "train.max_steps",
    "train.log_every_n_steps",
    "train.checkpoint_every_n_epochs",
    "train.checkpoint_every_n_steps",
    "train.keep_checkpoints_at",
    "train.compile",
    "trainer.",
    "data.root",
)


def _dotted(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out.update(_dotted(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def check_resumable(saved: dict[str, Any], config: dict[str, Any]) -> None:
    """One sentence if ``config`` changes a setting of the ``saved`` run that a resume cannot
    change (the optimiser's rate, the model, the data, the batch size, the seed...)."""
    before, after = _dotted(saved), _dotted(config)
    for key in sorted(before.keys() | after.keys()):
        if before.get(key) != after.get(key) and not key.startswith(RESUMABLE):
            raise UnweaveError(
                f"--resume cannot change {key} ({before.get(key)!r} -> {after.get(key)!r}): "
                "the checkpoint holds the state of the saved settings; train a new run "
                "(--name) to change it."
            )


def earlier_metrics(run_dir: Path, step: int) -> list[dict[str, str]]:
    """The rows of ``run_dir/metrics.csv`` logged before global step ``step``."""
    path = run_dir / "metrics.csv"
    if not path.exists():
        return []
    with open(path, newline="") as file:
        return [row for row in csv.DictReader(file) if int(row.get("step") or 0) < step]


def restore_metrics(trainer: pl.Trainer, rows: list[dict[str, str]]) -> None:
    """Write ``rows`` back as the start of the CSV logger's (new, empty) metrics.csv."""
    writer = next(lg for lg in trainer.loggers if isinstance(lg, CSVLogger)).experiment
    keys = sorted(rows[0])
    with open(writer.metrics_file_path, "w", newline="") as file:
        table = csv.DictWriter(file, fieldnames=keys)
        table.writeheader()
        table.writerows(rows)
    writer.metrics_keys = keys


def unreadable_reason(path: Path, err: Exception) -> str:
    """Why ``torch.load`` could not read ``path``, in a few words (torch's own messages are
    long and suggest unsafe loading)."""
    if path.stat().st_size == 0:
        return "the file is empty"
    if not zipfile.is_zipfile(path):
        return "it is not a complete PyTorch zip archive (cut short, or another format)"
    if isinstance(err, pickle.UnpicklingError):
        return "it holds Python objects besides tensors and numbers, which unweave never unpickles"
    return f"{type(err).__name__}: {str(err).splitlines()[0].rstrip('.')}"


#: What a finished run records of its training (global step, seconds summed over resumes),
#: so that its cost outlives its checkpoints (a study keeps figures, not weights).
TRAINING_RECORD = "training.json"


def training_seconds(run_dir: Path) -> float | None:
    """The training seconds ``run_dir``'s last checkpoint stored, summed over resumes, or
    without a checkpoint those its ``training.json`` recorded (None: neither, or a checkpoint
    from before checkpoints stored them)."""
    last = run_dir / LAST_CHECKPOINT
    if last.exists():
        return _stored_seconds(last, last.stat().st_mtime_ns)
    record = run_dir / TRAINING_RECORD
    return json.loads(record.read_text())["seconds"] if record.exists() else None


@functools.lru_cache(maxsize=4096)
def _stored_seconds(checkpoint: Path, modified_ns: int) -> float | None:
    """Read once per version of the file (a study's summary, rewritten after every cell,
    would otherwise load every finished cell's checkpoint again)."""
    return checkpoint_seconds(read_checkpoint(checkpoint))


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The Lightning checkpoint at ``path`` (tensors and plain values only: no pickled code
    runs), or one sentence saying why it is not one."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        raise UnweaveError(
            f"Checkpoint {path} is unreadable: {unreadable_reason(path, err)}; expected a "
            "checkpoint written by 'unweave train'. Delete it to start over."
        ) from None
    if not isinstance(state, dict) or "state_dict" not in state:
        raise UnweaveError(
            f"Checkpoint {path} has no 'state_dict'; expected a Lightning checkpoint."
        )
    return state


def check_checkpoint_fits(
    path: Path, saved: dict[str, tuple[int, ...]], module: pl.LightningModule
) -> None:
    """One sentence if the weight shapes ``saved`` (name -> shape) of the checkpoint at
    ``path`` are not those of ``module``'s model (another model's checkpoint, or another
    size, copied into the run)."""
    wanted = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    if saved == wanted:
        return
    differing = sorted(saved.keys() ^ wanted.keys()) or sorted(
        k for k in wanted if saved[k] != wanted[k]
    )
    method = module.config["method"]
    raise UnweaveError(
        f"Checkpoint {path} holds another model than this run's {method} "
        f"({len(differing)} weights differ in name or shape, e.g. '{differing[0]}'); "
        "expected the checkpoint this run wrote."
    )


def is_secondary_process() -> bool:
    """True in the processes a DDP launcher starts besides global rank 0 (they re-run the command)."""
    from lightning.pytorch.utilities import rank_zero_only

    return (
        rank_zero_only.rank > 0
        or int(os.environ.get("LOCAL_RANK", 0)) > 0
        or int(os.environ.get("NODE_RANK", 0)) > 0
    )


def with_settings_from_data(
    config: dict[str, Any], train_data: SequenceData | SeriesData
) -> dict[str, Any]:
    """``config`` with the model settings the training data fixes (e.g. FHVAE's sequence count).

    Models that have such settings say so with a static ``settings_from_data(data)``.
    """
    from unweave.data.registry import data_modality
    from unweave.models import model_class

    cls = model_class(config["method"], data_modality(config["data"]["name"]))
    from_data = getattr(cls, "settings_from_data", None)
    if from_data is None:
        return config
    return {**config, "model": {**config["model"], **from_data(train_data)}}


def check_model_takes_data(module: pl.LightningModule, datamodule: SequenceDataModule) -> None:
    """Run the loss on the first two training items (of the first epoch's rows, when the model
    trains on part of the data per epoch) so a shape mismatch fails before anything is written.

    The random state is restored afterwards: the run trains exactly as without the check.
    """
    model, seed = module.model, module.config["train"]["seed"]
    loader = datamodule.train_dataloader(model)  # the model's items, the first epoch's rows
    pair = DataLoader(Subset(loader.dataset, [0, 1]), batch_size=2, collate_fn=loader.collate_fn)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        if getattr(model, "start_epoch", None) is not None:
            model.start_epoch(datamodule.train_data, 0, seed)
        model.loss(*model.batch_inputs(next(iter(pair))))


def check_new_run_folder(run_dir: Path) -> None:
    """One sentence if ``run_dir`` already holds a run (a checkpoint or an export)."""
    if (Path(run_dir) / LAST_CHECKPOINT).exists() or (Path(run_dir) / "model.safetensors").exists():
        raise UnweaveError(
            f"Run folder {run_dir} already holds a run; pass --resume to continue it "
            "or choose another --name."
        )


def train(
    config: dict[str, Any],
    run_dir: str | Path,
    resume: bool = False,
    train_data: SequenceData | SeriesData | None = None,
    extra_callbacks: list[Callback] = (),
    **trainer_overrides: Any,
) -> Path:
    """Train ``config`` into ``run_dir`` (or continue it with ``resume``); returns ``run_dir``.

    ``train_data`` replaces loading the configured data set (for tests and notebooks);
    ``extra_callbacks`` and ``trainer_overrides`` go to :func:`build_trainer`.
    """
    run_dir = Path(run_dir)
    last = run_dir / LAST_CHECKPOINT
    if not is_secondary_process():
        check_writable_folder(run_dir, "Run folder", "choose another --name or --runs-dir")
    exported = (run_dir / "model.safetensors").exists()
    resume_step, saved_shapes = 0, {}
    if resume and last.exists():
        checkpoint = read_checkpoint(last)  # not kept: trainer.fit reads it again
        resume_step = int(checkpoint.get("global_step", 0))
        saved_shapes = {k: tuple(v.shape) for k, v in checkpoint["state_dict"].items()}
        del checkpoint
    elif resume and not exported and (run_dir / "config.yaml").exists():
        # The run stopped before its first checkpoint: nothing to continue, so it starts over.
        rank_zero_info(
            f"{run_dir} stopped before its first checkpoint; training it from the start."
        )
        resume = False
    elif resume:
        raise UnweaveError(
            f"Cannot resume: {last} does not exist; train without --resume"
            + (" into another --name (this run finished)." if exported else ".")
        )
    elif not is_secondary_process():
        check_new_run_folder(run_dir)
    datamodule = SequenceDataModule(config, train_data)
    datamodule.setup("fit")  # load data (and fail on bad input) before anything is written
    config = with_settings_from_data(config, datamodule.train_data)
    if resume:
        check_resumable(read_run_config(run_dir), config)
    seed = config["train"]["seed"]
    pl.seed_everything(seed, workers=True, verbose=False)
    module = build_module(config)
    if resume:
        check_checkpoint_fits(last, saved_shapes, module)
    prepare = getattr(module.model, "prepare_for_data", None)
    if prepare is not None:
        prepare(datamodule.train_data)
    # A model may train on part of the data per epoch (FHVAE's blocks of sequences).
    training_rows = getattr(module.model, "training_rows", None)
    check_model_takes_data(module, datamodule)
    if not is_secondary_process():
        run_dir.mkdir(parents=True, exist_ok=True)
        for folder in (run_dir, last.parent):  # writes cut short by a kill
            remove_stale_temporaries(folder)
        write_atomic(run_dir / "config.yaml", yaml.safe_dump(config, sort_keys=False))
        write_atomic(run_dir / "env.json", json.dumps(environment(config), indent=1))

    # Log at least once per epoch, even when an epoch is shorter than train.log_every_n_steps.
    steps_per_epoch = len(datamodule.train_dataloader(module.model))  # the model's own items
    log_every = max(1, min(config["train"]["log_every_n_steps"], steps_per_epoch))
    if training_rows is not None:
        trainer_overrides = {"reload_dataloaders_every_n_epochs": 1, **trainer_overrides}
    # The CSV logger deletes metrics.csv when it starts; a resumed run puts back the rows
    # logged before its checkpoint, so the history survives any number of resumes.
    history = earlier_metrics(run_dir, resume_step) if resume and not is_secondary_process() else []
    trainer = build_trainer(
        config, run_dir, extra_callbacks, log_every_n_steps=log_every, **trainer_overrides
    )
    if history:
        restore_metrics(trainer, history)
    try:
        trainer.fit(
            module, datamodule=datamodule, ckpt_path=last if resume else None, weights_only=True
        )
    except OSError as err:  # a full disk or a folder taken away while training
        sentence = os_error_sentence(err)
        if sentence is None:
            raise
        raise UnweaveError(f"{sentence} Training stopped; continue it with --resume.") from None
    if trainer.interrupted:
        raise UnweaveError(f"Training was interrupted; continue it with --resume (run {run_dir}).")
    if trainer.is_global_zero:
        export_model(module.model, run_dir, data_info(datamodule.train_data))
        record = {"global_step": trainer.global_step, "seconds": training_seconds(run_dir)}
        write_atomic(run_dir / TRAINING_RECORD, json.dumps(record, indent=1))
    return run_dir
