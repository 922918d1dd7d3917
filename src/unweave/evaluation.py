"""What ``unweave evaluate`` scores: the metric groups of each modality, the data and judge
they read (loaded once for any number of checkpoints), and the figures of one model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from unweave.errors import UnweaveError

if TYPE_CHECKING:
    from unweave.downstream import Representation

#: Modality -> its metric groups, the default being all of them.
METRIC_GROUPS = {
    "video": ("probes", "judge", "classic"),
    "audio": ("verification", "content"),
    "fragments": ("content_style",),
    "images": ("classic",),
    "series": ("probes", "downstream"),
}


def metric_groups(modality: str, metrics: str | None, holder: str | Path) -> list[str]:
    """The groups a comma-separated ``metrics`` names (default: all of ``modality``'s);
    ``holder`` (a run folder, or what the model is) names the model in the error."""
    allowed = METRIC_GROUPS.get(modality)
    if allowed is None:
        raise UnweaveError(
            f"{holder} holds a {modality} model, which 'unweave evaluate' cannot score."
        )
    groups = [g.strip() for g in (metrics or ",".join(allowed)).split(",") if g.strip()]
    unknown = [g for g in groups if g not in allowed]
    if unknown or not groups:
        raise UnweaveError(
            f"Unknown metric group '{(unknown or [''])[0]}' for {modality} models; "
            f"expected some of: {', '.join(allowed)}."
        )
    return groups


@dataclass
class EvaluationSettings:
    """The options of ``unweave evaluate`` that shape the figures."""

    niter: int = 5
    batch_size: int = 128
    judge_training: dict[str, int] = field(default_factory=lambda: {"epochs": 4, "batch_size": 128})
    judge_source: str = "trained"
    lda_dims: int | None = None
    metric_preset: str = "reference"
    seed: int = 0


class Evaluation:
    """The data (and judge) of a run's evaluation, loaded once; :meth:`score` gives the
    figures of any model of the run (the exported one, or each kept checkpoint)."""

    def __init__(
        self,
        run: Path,
        modality: str,
        groups: list[str],
        settings: EvaluationSettings,
        root: Path | None = None,
    ) -> None:
        from unweave.training.run import read_run_config

        config = read_run_config(run)
        data = dict(config["data"])
        data["root"] = str(root) if root else data.get("root")
        self.run = run
        self._load(
            data, modality, groups, settings, config["model"].get("image_size"),
            hint=f"unweave judge train --run {run}",
        )  # fmt: skip

    @classmethod
    def of_data(
        cls,
        data: dict[str, Any],
        modality: str,
        groups: list[str],
        settings: EvaluationSettings,
        image_size: int | None = None,
    ) -> Evaluation:
        """An evaluation of any model on the data set ``data`` (a run config's ``data``
        section: ``name``, ``root``, ``options``), not tied to a run."""
        evaluation = cls.__new__(cls)
        evaluation.run = None
        hint = f"unweave judge train --data {data['name']}"
        evaluation._load(data, modality, groups, settings, image_size, hint)
        return evaluation

    def _load(
        self,
        data: dict[str, Any],
        modality: str,
        groups: list[str],
        settings: EvaluationSettings,
        image_size: int | None,
        hint: str,
    ) -> None:
        """Load the splits (and the judge) that ``groups`` read."""
        from unweave.data.registry import load_data

        self.modality, self.groups, self.settings = modality, groups, settings
        self.data_name = data["name"]

        def split(name: str) -> Any:
            return load_data(data["name"], name, data.get("root"), **(data.get("options") or {}))

        self.test = split("test")
        self.judge = self.judge_info = None
        if "judge" in groups:  # loaded first: it fails fast when no judge is cached
            from unweave.judges.train import load_judge

            self.judge, self.judge_info = load_judge(
                data, image_size, settings.judge_training, hint=hint, source=settings.judge_source
            )
        # Every group but the judge protocol also reads the training split: load it once.
        needs_train = bool(set(groups) - {"judge"}) and modality != "images"
        self.train = split("train") if needs_train else None
        self.ood = split("ood") if "content_style" in groups else None
        self.checked_judge = False

    def score(self, model: torch.nn.Module, figure: Path | None = None) -> dict[str, float]:
        """Every group's figures for ``model``, keyed ``group/name`` (``figure``: where the
        content-style group draws its codebook confusion matrix). The torch draws (posterior
        samples, a decoder's noise) start from the settings' seed: a model scores the same
        figures whether it is scored alone or as one checkpoint of many."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.settings.seed)
            return self.score_groups(model, figure)

    def score_groups(self, model: torch.nn.Module, figure: Path | None) -> dict[str, float]:
        """:meth:`score` without fixing the seed."""
        groups, train, test, results = self.groups, self.train, self.test, {}
        if self.judge is not None and not self.checked_judge:
            from unweave.metrics.sequential import check_judge

            check_judge(self.judge, self.judge_info, model, test)
            self.checked_judge = True
        if "verification" in groups:
            from unweave.metrics.speech import speaker_verification_report

            report = speaker_verification_report(
                model, train, test, lda_dims=self.settings.lda_dims
            )
            results.update({f"verification/{k}": v for k, v in report.items()})
        if "content" in groups:
            from unweave.metrics.speech import content_probe_report

            report = content_probe_report(model, train, test)
            results.update({f"content/{k}": v for k, v in report.items()})
        if "content_style" in groups:
            from unweave.metrics.fragments import content_style_evaluation

            results.update(content_style_evaluation(model, train, test, self.ood, figure=figure))
        if "probes" in groups:
            from unweave.metrics.probes import probe_report, series_probe_report

            probe = series_probe_report if self.modality == "series" else probe_report
            results.update({f"probe/{k}": v for k, v in probe(model, train, test).items()})
        if "downstream" in groups:
            from unweave.downstream import model_representation

            results.update(self.downstream(model_representation(model)))
        if "classic" in groups:
            results.update({f"classic/{k}": v for k, v in self.classic(model).items()})
        if "judge" in groups:
            from unweave.metrics.sequential import sequential_protocol

            report = sequential_protocol(
                model, self.judge, test, niter=self.settings.niter,
                batch_size=self.settings.batch_size,
            )  # fmt: skip
            results.update({f"judge/{k}": v for k, v in report.items()})
            results["judge/published"] = float(self.settings.judge_source == "published")
            # Which judge scored (judges retrained on other machines differ a little).
            accuracy = self.judge_info.get("test_accuracy", {})
            results.update({f"judge/test_accuracy/{k}": v for k, v in accuracy.items()})
        return results

    def classic(self, model: torch.nn.Module) -> dict[str, float]:
        """The classic disentanglement metrics (images: on the ground-truth factors)."""
        if self.modality == "images":
            from unweave.metrics.images import ground_truth_report

            return ground_truth_report(
                model, self.test, seed=self.settings.seed, preset=self.settings.metric_preset
            )
        from unweave.metrics.probes import classic_report

        return classic_report(model, self.train, self.test)

    def downstream(self, represent: Representation) -> dict[str, float]:
        """Every downstream task of the run's data on a representation (a frozen series
        model's, or the raw features'): the mean (and ``_std``) of each metric over the
        protocol's repetitions."""
        from unweave.downstream import get_task, run_task, tasks_for

        name = self.data_name
        results: dict[str, Any] = {}
        for task in tasks_for(name):
            summary = run_task(
                get_task(task, name), represent, self.train, self.test, progress=False
            )
            for metric, value in summary.items():
                if isinstance(value, dict):
                    results[f"downstream/{task}/{metric}"] = value["mean"]
                    results[f"downstream/{task}/{metric}_std"] = value["std"]
        return results


def score_export(
    evaluation: Evaluation, model: torch.nn.Module
) -> tuple[dict[str, float], str | None]:
    """Score the exported ``model`` of ``evaluation.run`` into ``RUN/eval.json`` (a codebook
    figure beside it) and refresh the run's model card; the figures, and the sentence saying
    a damaged ``eval.json`` was set aside (or None)."""
    from unweave.atomic import update_json
    from unweave.model_card import write_model_card

    run = evaluation.run
    results = evaluation.score(model, run / "codebook.png")
    note = update_json(run / "eval.json", results)
    write_model_card(run)
    return results, note


def score_checkpoints(
    evaluation: Evaluation, paths: list[Path], progress: bool = True
) -> Iterator[tuple[Path, Path, dict[str, Any]]]:
    """Score each checkpoint of ``paths`` (of ``evaluation.run``) and merge its figures, with
    its ``step`` and training seconds ``elapsed_s``, into ``RUN/evals/step-N.json``; yields
    ``(json path, codebook figure path, figures)``. A checkpoint at a step already scored in
    this call is skipped (the last of a run that ended at a kept step)."""
    from tqdm import tqdm

    from unweave.atomic import update_json
    from unweave.export import load_checkpoint

    folder, scored = evaluation.run / "evals", set()
    folder.mkdir(parents=True, exist_ok=True)
    for path in tqdm(paths, desc="checkpoints", unit="ckpt", disable=not progress):
        model, step, seconds = load_checkpoint(evaluation.run, path)
        if step in scored:
            continue
        scored.add(step)
        figure = folder / f"codebook-step-{step}.png"
        row = {"step": step, "elapsed_s": seconds, **evaluation.score(model, figure)}
        out = folder / f"step-{step}.json"
        update_json(out, row)
        yield out, figure, row
