"""unweave from Python: fit a method on a data set or your arrays, load a run, encode, swap,
evaluate any model with the field's protocols, and write the report.

    import unweave
    run = unweave.fit("dbse", x, static={"site": site}, model={"f_dim": 16})
    run.evaluate()                 # the probes (series) or the modality's protocols
    codes = run.encode()           # posterior means of the test split
    run.report()                   # RUN/report.html

The command line calls these same functions.
"""

from __future__ import annotations

import contextlib
import shutil
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unweave.errors import UnweaveError, UnweaveWarning

#: Modality of arrays by the number of their dimensions, and the data set that reads them.
ARRAY_DATASETS = {3: ("series", "series-npz"), 5: ("video", "video-npz")}
#: The window a series model splits a sequence into when ``model.window`` is not given.
DEFAULT_WINDOW = 24


@dataclass
class Run:
    """A run folder of ``unweave train`` / :func:`fit`: its config, model and data.

    ``path`` holds ``config.yaml``, ``model.safetensors`` and ``config.json`` (loaded without
    unpickling), the ``README.md`` model card, ``metrics.csv`` and the checkpoints.
    """

    path: Path

    @cached_property
    def config(self) -> dict[str, Any]:
        """The run's full config (``config.yaml``)."""
        from unweave.training.run import read_run_config

        return read_run_config(self.path)

    @cached_property
    def model(self) -> torch.nn.Module:
        """The trained model in eval mode, on the CPU."""
        from unweave.export import load

        return load(self.path)

    @property
    def modality(self) -> str:
        """``video``, ``series``, ``audio``, ``fragments`` or ``images`` (from the config, so a
        run still training has one)."""
        from unweave.data.registry import data_modality

        return data_modality(self.config["data"]["name"])

    def data(self, split: str = "test", root: str | Path | None = None) -> Any:
        """Split ``split`` of the data set the run trained on (``root`` overrides its folder)."""
        from unweave.training.run import load_run_data

        return load_run_data(self.path, split, root)

    def encode(self, data: Any = None, split: str = "test") -> dict[str, np.ndarray]:
        """Posterior means of ``data`` (a loaded split; default: the run's ``split``): for
        sequences ``static`` ``(N, S)`` and ``dynamic`` ``(N, T or W, Z)``; for content/style
        data ``content`` and ``style`` per fragment; for images ``codes`` ``(N, D)``."""
        return encode(self.model, self.data(split) if data is None else data)

    @torch.no_grad()
    def swap(self, a: Any, b: Any, mask_a: Any = None, mask_b: Any = None) -> np.ndarray:
        """Decode the static (style) code of each of ``a`` with the dynamics (content) of the
        matching one of ``b``: video clips ``(B, T, C, H, W)`` (uint8 or [0, 1]), series
        ``(B, T, F)`` (masks default to all observed) or fragments; the model's output."""
        model, a, b = self.model, torch.as_tensor(np.asarray(a)), torch.as_tensor(np.asarray(b))
        if self.modality == "video":
            from unweave.nn.frames import prepare_frames

            size = model.config.image_size
            return model.swap(prepare_frames(a, size), prepare_frames(b, size)).numpy()
        if self.modality == "series":
            masks = [torch.ones_like(x, dtype=torch.bool) if m is None else torch.as_tensor(
                np.asarray(m, bool)) for x, m in ((a, mask_a), (b, mask_b))]  # fmt: skip
            from unweave.models.base import swap_codes

            return swap_codes(model, a.float(), b.float(), *masks).numpy()
        if hasattr(model, "swap"):
            return model.swap(a.float(), b.float()).numpy()
        raise UnweaveError(f"The {model.name} model ({self.modality}) has no swap.")

    def evaluate(
        self,
        metrics: str | list[str] | None = None,
        root: str | Path | None = None,
        **settings: Any,
    ) -> dict[str, float]:
        """The figures of the modality's protocols (``metrics``: groups, default all of the
        modality's), merged into ``RUN/eval.json``; ``settings``: the fields of
        :class:`~unweave.evaluation.EvaluationSettings` (``niter``, ``metric_preset``, ...)."""
        from unweave.evaluation import score_export

        results, note = score_export(self._evaluation(metrics, root, settings), self.model)
        if note:
            warnings.warn(note, UnweaveWarning, stacklevel=2)
        return results

    def evaluate_checkpoints(
        self,
        checkpoints: str = "all",
        metrics: str | list[str] | None = None,
        root: str | Path | None = None,
        **settings: Any,
    ) -> Iterator[tuple[Path, Path, dict[str, float]]]:
        """Score training checkpoints (``"all"``, ``"last"`` or steps such as ``"930,1860"``;
        a run still training works too) as :meth:`evaluate` scores the model: a budget
        curve's points. Yields, as each is scored, ``RUN/evals/step-N.json``, the codebook
        figure's path (content/style runs draw one) and the figures, with ``step`` and
        ``elapsed_s`` (seconds of training)."""
        from unweave.evaluation import score_checkpoints
        from unweave.training.milestones import select_checkpoints

        paths = select_checkpoints(self.path, checkpoints)
        yield from score_checkpoints(self._evaluation(metrics, root, settings), paths)

    def _evaluation(
        self, metrics: str | list[str] | None, root: str | Path | None, settings: dict[str, Any]
    ) -> Any:
        """The :class:`~unweave.evaluation.Evaluation` of this run."""
        from unweave.evaluation import Evaluation, EvaluationSettings, metric_groups

        groups = metric_groups(self.modality, _joined(metrics), self.path)
        return Evaluation(
            self.path, self.modality, groups, EvaluationSettings(**settings), _path(root)
        )

    def export(self, out: str | Path) -> Path:
        """The model as a folder to share or upload to a hub (``config.json``,
        ``model.safetensors``, ``README.md`` with the run's figures); ``out``."""
        from unweave.model_card import export_folder

        return export_folder(self.path, out)

    def report(self, out: str | Path | None = None, root: str | Path | None = None) -> Path:
        """Write the self-contained HTML report (default ``RUN/report.html``); its path."""
        from unweave.report import write_report

        return write_report(self.path, root=_path(root), out=_path(out))

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"


def load(path: str | Path) -> Run:
    """The finished run in folder ``path``, its model loaded (without unpickling)."""
    run = Run(Path(path))
    run.model  # noqa: B018 - one sentence now if the folder holds no finished run
    return run


def fit(
    method: str,
    data: Any = "toy-sprites",
    *,
    preset: str = "cpu",
    run_dir: str | Path | None = None,
    root: str | Path | None = None,
    resume: bool = False,
    mask: Any = None,
    static: Mapping[str, Any] | None = None,
    dynamic: Mapping[str, Any] | None = None,
    test: Any = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    settings: Mapping[str, Any] | None = None,
    **keyword_settings: Any,
) -> Run:
    """Train ``method`` on ``data`` and return the :class:`Run`.

    ``data``: a data set name of ``unweave data list`` (``root``: its files), a loaded split,
    a map-style torch ``Dataset`` (stacked into arrays: see
    :func:`unweave.data.arrays.dataset_arrays`), or arrays:
    series ``(N, T, F)`` or video clips ``(N, T, C, H, W)`` uint8, with ``mask`` (series),
    ``static`` / ``dynamic`` label dicts and ``test`` (arrays, or a dict with ``x``,
    ``mask``, ``static``, ``dynamic``); without ``test``, ``test_fraction`` of the sequences
    (shuffled by ``seed``) are held out. Arrays are saved as ``RUN/data/<split>.npz`` (the
    ``series-npz`` / ``video-npz`` data sets), so every command works on the run later.
    Settings are the keys of ``--set``: keywords ``section__key=value`` (``model__f_dim=16``,
    ``data__options__size=32``) or a dict per section (``model={"f_dim": 16}``), and
    ``settings``, a nested dict of sections (``{"data": {"options": {"size": 32}}}``); the
    keywords win. ``run_dir`` defaults to ``runs/<method>-<data>-<preset>``.
    """
    from unweave.data.arrays import dataset_arrays
    from unweave.paths import check_writable_folder
    from unweave.training.config import merge, resolve, validate
    from unweave.training.run import check_new_run_folder, read_run_config, train

    if isinstance(data, torch.utils.data.Dataset):  # its items, stacked into arrays
        parts = dataset_arrays(data)
        data, mask = parts["x"], parts["mask"] if mask is None else mask
        static = {**parts["static"], **(static or {})}
        dynamic = {**parts["dynamic"], **(dynamic or {})}
    if isinstance(test, torch.utils.data.Dataset):
        test = dataset_arrays(test)
    if hasattr(data, "x") and not isinstance(data, str):  # a loaded split: its arrays
        mask, static, dynamic = getattr(data, "mask", None), data.static, data.dynamic
        data = data.x
    arrays = not isinstance(data, str)
    name = _array_dataset(data) if arrays else data
    run_dir = Path(run_dir or Path("runs") / f"{method}-{name}-{preset}")
    overrides = merge(dict(settings or {}), _overrides(keyword_settings))
    if resume:
        config = validate(merge(read_run_config(run_dir), overrides))
    else:
        if arrays:
            root = run_dir / "data"
            overrides = merge(_shape_settings(data, overrides), overrides)
        config = validate(merge(resolve(method, name, preset, _path(root)), overrides))
    written = arrays and not resume
    if written:  # every setting checked first: a bad one writes nothing
        check_writable_folder(run_dir, "Run folder", "choose another run_dir")
        check_new_run_folder(run_dir)
        _save_splits(root, data, mask, static, dynamic, test, test_fraction, seed)
    try:
        train(config, run_dir, resume=resume)
    except BaseException:
        if written and not (run_dir / "config.yaml").exists():  # it stopped before starting
            shutil.rmtree(root, ignore_errors=True)
            with contextlib.suppress(OSError):
                run_dir.rmdir()  # only if it is empty
        raise
    return Run(run_dir)


def evaluate(
    model: Run | str | Path | torch.nn.Module,
    data: str | None = None,
    metrics: str | list[str] | None = None,
    root: str | Path | None = None,
    options: Mapping[str, Any] | None = None,
    **settings: Any,
) -> dict[str, float]:
    """The figures of the field's protocols for a run (a :class:`Run` or its folder) or any
    model that follows the model contract (``encode``, ``decode``, ``sample_static``,
    ``sample_dynamic``, ``name``, ``modality``), scored on data set ``data`` (``root``,
    ``options``: its folder and ``data.options``). ``settings``: as :meth:`Run.evaluate`."""
    if isinstance(model, (str, Path)):
        model = load(model)
    if isinstance(model, Run):
        return model.evaluate(metrics, root, **settings)
    from unweave.evaluation import Evaluation, EvaluationSettings, metric_groups

    if data is None:
        raise UnweaveError("Evaluating a model needs data: a data set name of 'unweave data list'.")
    modality = getattr(model, "modality", None)
    if modality is None:
        raise UnweaveError(
            f"{type(model).__name__} has no 'modality'; the model contract needs one."
        )
    section = {
        "name": data,
        "root": None if root is None else str(root),
        "options": dict(options or {}),
    }
    evaluation = Evaluation.of_data(
        section, modality, metric_groups(modality, _joined(metrics), "The model"),
        EvaluationSettings(**settings), getattr(getattr(model, "config", None), "image_size", None),
    )  # fmt: skip
    return evaluation.score(model.eval())


def encode(model: torch.nn.Module, data: Any) -> dict[str, np.ndarray]:
    """Posterior means of a loaded split under ``model`` (see :meth:`Run.encode`)."""
    modality = model.modality
    if modality == "video":
        from unweave.metrics.probes import encode_dataset

        codes = encode_dataset(model, data)
    elif modality == "series":
        from unweave.metrics.probes import encode_series

        codes = encode_series(model, data)
    elif modality == "fragments":
        from unweave.metrics.fragments import fragment_codes

        codes = fragment_codes(model, data)
    elif modality == "audio":
        from unweave.metrics.speech import segment_codes

        codes = segment_codes(model, data, np.arange(len(data)), 256, 0)
    else:
        from unweave.data.ground_truth import to_float
        from unweave.metrics.images import model_representation

        codes = {"codes": model_representation(model)(to_float(np.asarray(data.x)))}
    return {k: v for k, v in codes.items() if isinstance(v, np.ndarray)}


def _array_dataset(x: Any) -> str:
    """The npz data set that reads arrays shaped like ``x``."""
    shape = np.shape(x)
    if len(shape) not in ARRAY_DATASETS:
        raise UnweaveError(
            f"Arrays of shape {shape}: expected series (N, T, F) or video clips (N, T, C, H, W); "
            "other data fit by name (unweave data list)."
        )
    return ARRAY_DATASETS[len(shape)][1]


def _save_splits(
    folder: Path,
    x: Any,
    mask: Any,
    static: Mapping[str, Any] | None,
    dynamic: Mapping[str, Any] | None,
    test: Any,
    test_fraction: float,
    seed: int,
) -> None:
    """Write ``train.npz`` and ``test.npz`` of the arrays into ``folder``."""
    from unweave.data.arrays import save_arrays

    parts = {"x": x, "mask": mask, "static": dict(static or {}), "dynamic": dict(dynamic or {})}
    if test is None:
        n = len(x)
        if not 0.0 < test_fraction < 1.0 or not 1 <= round(test_fraction * n) < n:
            raise UnweaveError(
                f"test_fraction={test_fraction} of {n} sequences leaves no train or no test "
                "sequence; give test= or another fraction."
            )
        order = np.random.default_rng(seed).permutation(n)
        rows = {
            "test": order[: round(test_fraction * n)],
            "train": order[round(test_fraction * n) :],
        }
        splits = {split: _rows(parts, index) for split, index in rows.items()}
    else:
        test = test if isinstance(test, Mapping) else {"x": test}
        splits = {"train": parts, "test": {"static": {}, "dynamic": {}, "mask": None, **test}}
    for split, arrays in splits.items():
        save_arrays(folder, split, arrays["x"], arrays["mask"], arrays["static"], arrays["dynamic"])


def _rows(parts: dict[str, Any], index: np.ndarray) -> dict[str, Any]:
    """The rows ``index`` of every array in ``parts``."""
    pick = lambda a: None if a is None else np.asarray(a)[index]  # noqa: E731
    return {
        "x": pick(parts["x"]),
        "mask": pick(parts["mask"]),
        "static": {k: pick(v) for k, v in parts["static"].items()},
        "dynamic": {k: pick(v) for k, v in parts["dynamic"].items()},
    }


def _shape_settings(x: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    """The model settings that arrays fix: a series' features and windows, a clip's channels."""
    shape = np.shape(x)
    if len(shape) == 5:
        return {"model": {"channels": int(shape[2])}}
    steps, window = int(shape[1]), int(overrides.get("model", {}).get("window", DEFAULT_WINDOW))
    if steps % window:
        raise UnweaveError(
            f"Series of {steps} steps do not split into windows of {window}; pass "
            "model__window= a divisor of the length."
        )
    return {"model": {"n_features": int(shape[2]), "window": window, "n_windows": steps // window}}


def _overrides(settings: dict[str, Any]) -> dict[str, Any]:
    """``section__key=value`` and ``section={...}`` keyword settings as one nested dict."""
    from unweave.training.config import merge

    nested: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, Mapping):
            nested = merge(nested, {key: dict(value)})
        elif "__" in key:
            path = key.split("__")
            for part in reversed(path[1:]):
                value = {part: value}
            nested = merge(nested, {path[0]: value})
        else:
            raise UnweaveError(
                f"Setting '{key}' names no section; expected section__key=value "
                "(model__f_dim=16) or section={...}."
            )
    return nested


def _joined(metrics: str | list[str] | None) -> str | None:
    return metrics if metrics is None or isinstance(metrics, str) else ",".join(metrics)


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)
