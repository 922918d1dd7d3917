"""Lightning data module for sequence data sets, with an epoch-seeded shuffle.

A model may serve its own training items: ``model.training_items(train_data)`` returns
``(torch Dataset, collate_fn)`` or ``None`` for the default items of the data kind; batches
are then ``train.batch_size`` of those items (fragments drawn i.i.d., whole utterances).

Shuffling uses a ``DistributedSampler`` seeded by ``train.seed`` and the epoch (Lightning
calls ``set_epoch``), on one process as on many, so a resumed run sees the same batches as
an uninterrupted one and DDP ranks see disjoint shards. The loader is stateful: Lightning
stores how many batches of the epoch the training loop consumed in every checkpoint, and a
run resumed from a checkpoint written mid-epoch continues with the next batch (exact resume
for step-checkpointed runs). It draws no number from the global random generator, so the
generator state a checkpoint restores is the one the uninterrupted run had.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, DistributedSampler, Subset, default_collate

from unweave.data.base import SequenceData, SequenceTorchDataset, collate_batch
from unweave.data.fragments import FragmentData, FragmentTorchDataset
from unweave.data.ground_truth import GroundTruthImages, ImageTorchDataset
from unweave.data.registry import load_data
from unweave.data.timeseries import SeriesData, SeriesTorchDataset
from unweave.errors import UnweaveError


class ResumableSampler(DistributedSampler):
    """A ``DistributedSampler`` whose next pass can start ``skip_items`` indices in (the
    items of the batches a resumed epoch had already consumed)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.skip_items = 0

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        start, self.skip_items = self.skip_items, 0
        return iter(indices[start:])


class ResumableLoader(DataLoader):
    """A ``DataLoader`` over a :class:`ResumableSampler` that Lightning checkpoints: its state
    is the number of batches of the current epoch the training loop has consumed
    (``batches_consumed()``); loading it makes the next pass start after them."""

    def __init__(self, *args: Any, batches_consumed: Callable[[], int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches_consumed = batches_consumed

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.sampler.epoch, "batches": self.batches_consumed()}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Skip the batches consumed before the checkpoint (none if the epoch had ended)."""
        batches = state["batches"]
        self.sampler.skip_items = batches * self.batch_size if batches < len(self) else 0


class SequenceDataModule(pl.LightningDataModule):
    """Serves the train split of ``config["data"]`` in batches of ``train.batch_size``."""

    def __init__(
        self, config: dict[str, Any], train_data: SequenceData | SeriesData | None = None
    ) -> None:
        super().__init__()
        self.config = config
        self.train_data = train_data

    def setup(self, stage: str | None = None) -> None:
        if self.train_data is None:
            data = self.config["data"]
            self.train_data = load_data(
                data["name"], "train", data.get("root"), **data.get("options", {})
            )

    def train_dataloader(self, model: torch.nn.Module | None = None) -> DataLoader:
        """The shuffled training batches; ``model`` (default: the trainer's) may serve its own
        training items."""
        drop_last = self.config["train"]["drop_last"]
        trainer = self.trainer
        if model is None and trainer is not None:
            model = getattr(trainer.lightning_module, "model", None)
        training_items = getattr(model, "training_items", None)
        custom = None if training_items is None else training_items(self.train_data)
        if custom is not None:  # e.g. Two-Step's i.i.d. fragments, audio DBSE's utterances
            dataset, collate = custom
        elif isinstance(self.train_data, SeriesData):
            dataset, collate = SeriesTorchDataset(self.train_data), default_collate
        elif isinstance(self.train_data, FragmentData):
            dataset, collate = FragmentTorchDataset(self.train_data), default_collate
        elif isinstance(self.train_data, GroundTruthImages):
            dataset, collate = ImageTorchDataset(self.train_data), default_collate
        else:
            dataset, collate = SequenceTorchDataset(self.train_data), collate_batch
        batch_size = self.config["train"]["batch_size"]
        if len(dataset) < batch_size:
            raise UnweaveError(
                f"The train split of '{self.train_data.name}' gives {len(dataset)} training "
                f"items, fewer than train.batch_size={batch_size}; lower the batch size."
            )
        training_rows = getattr(model, "training_rows", None)
        if training_rows is not None:  # e.g. FHVAE's block of sequences for this epoch
            rows = training_rows(
                self.train_data,
                trainer.current_epoch if trainer else 0,
                self.config["train"]["seed"],
            )
            dataset = dataset if rows is None else Subset(dataset, rows.tolist())
        sampler = ResumableSampler(
            dataset,
            num_replicas=trainer.world_size if trainer else 1,
            rank=trainer.global_rank if trainer else 0,
            shuffle=True,
            seed=self.config["train"]["seed"],
            drop_last=True,  # equal shards per rank
        )
        return ResumableLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            drop_last=drop_last,
            collate_fn=collate,
            num_workers=0,
            # Its own generator: creating an iterator draws a seed from it, not from the
            # global generator the model's noise comes from.
            generator=torch.Generator().manual_seed(self.config["train"]["seed"]),
            batches_consumed=self._batches_consumed,
        )

    def _batches_consumed(self) -> int:
        """Batches of the current epoch whose training step has run (0 before training)."""
        if self.trainer is None:
            return 0
        return self.trainer.fit_loop.epoch_loop.batch_progress.current.processed
