"""Data sets by name: what ``--data NAME`` means, as one table of :class:`DataSet` entries.

Each entry names the data set's modality (which models it feeds), its loader, where its
files are, a description and a licence. The loaders, ``unweave data list``, the error
messages and the docs all read this table; a new data set (built in or a user's) is one
:func:`register` call.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from unweave.errors import UnweaveError, check_known_keys

#: The modalities, in the order listings show them, and what each holds.
MODALITIES: dict[str, str] = {
    "video": "clips of frames (N, T, C, H, W): static look, dynamic motion",
    "series": "multivariate series (N, T, F) with a mask: static code per series, dynamics per window",
    "audio": "speech as segments of spectral frames (N, 20, F): speaker vs content",
    "fragments": "samples of fragments (N, n, C, H, W) sharing a style: content vs style",
    "images": "ground-truth images (N, C, H, W) on a factor grid: one latent per factor",
}

Files = Literal["none", "optional", "required"]


@dataclass(frozen=True)
class DataSet:
    """One data set: how to load it and what to tell a user about it.

    ``loader`` is a callable or its ``"module:function"`` path (imported on first use), called
    as ``loader(split=..., root=..., **options)``; ``root`` is passed unless ``files`` is
    ``"none"``. ``files``: ``"none"`` (made in-process), ``"optional"`` (read from ``root``
    when given, else rendered) or ``"required"`` (``root``, else ``$UNWEAVE_DATA/<folder>``).
    The options are the loader's keyword parameters (and, where it takes ``**options``,
    those of the function named in ``forwards``), with their defaults.
    """

    name: str
    modality: str
    loader: str | Callable[..., Any]
    description: str
    licence: str
    files: Files = "none"
    folder: str | None = None  # the default root's folder under $UNWEAVE_DATA
    root_help: str = ""  # what --root points at, for the error when it is missing
    forwards: str | None = None  # "module:function" that receives the loader's **options

    def load_function(self) -> Callable[..., Any]:
        """The loader, imported if given as a path."""
        return _resolve(self.loader)

    def options(self) -> dict[str, Any]:
        """Accepted ``data.options`` -> default (``inspect.Parameter.empty`` when required):
        the loader's keyword parameters, then those of ``forwards`` that have a default."""
        functions = [(self.load_function(), True)]
        functions += [(_resolve(self.forwards), False)] if self.forwards else []
        found: dict[str, Any] = {}
        for function, own in functions:
            for name, parameter in inspect.signature(function).parameters.items():
                skip = parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)
                skip |= name in ("split", "root") or (
                    not own and parameter.default is parameter.empty
                )
                if not skip:
                    found.setdefault(name, parameter.default)
        return found

    def load(self, split: str, root: str | Path | None = None, **options: Any) -> Any:
        """Split ``split`` with ``options`` checked against :meth:`options`."""
        accepted = self.options()
        check_known_keys("data.options", options, set(accepted))
        missing = [
            k for k, v in accepted.items() if v is inspect.Parameter.empty and k not in options
        ]
        if missing:
            raise UnweaveError(
                f"The '{self.name}' data set needs data.options {_and(missing)} "
                "(--set data.options.KEY=...)."
            )
        if self.files == "none":
            return self.load_function()(split=split, **options)
        if self.files == "required":
            root = root or (default_data_root(self.folder) if self.folder else None)
            if root is None:
                held = (
                    f", or UNWEAVE_DATA set to a folder holding {self.folder}/"
                    if self.folder
                    else ""
                )
                raise UnweaveError(
                    f"The '{self.name}' data set needs --root PATH ({self.root_help}){held}."
                )
        return self.load_function()(
            split=split, root=None if root is None else Path(root), **options
        )


def _and(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _resolve(loader: str | Callable[..., Any]) -> Callable[..., Any]:
    if callable(loader):
        return loader
    module, function = loader.split(":")
    return getattr(importlib.import_module(module), function)


#: Every data set by name, in listing order: a new one is one :func:`register` call.
DATASETS: dict[str, DataSet] = {}


def register(dataset: DataSet) -> DataSet:
    """Add ``dataset`` to :data:`DATASETS` (a user's data set too); its modality must be known."""
    if dataset.modality not in MODALITIES:
        raise UnweaveError(
            f"Data set '{dataset.name}' has modality '{dataset.modality}'; expected one of: "
            f"{', '.join(MODALITIES)}."
        )
    DATASETS[dataset.name] = dataset
    return dataset


SPEECH = "unweave.data.speech"
SERIES = "unweave.data.timeseries"
for _entry in (
    DataSet("toy-sprites", "video", "unweave.data.toy_sprites:load_toy_sprites",
            "procedural sprites: colour and shape stay, direction and speed move",
            "unweave's own (Apache-2.0)"),
    DataSet("sprites", "video", "unweave.data.sprites:load_sprites",
            "Sprites (Li & Mandt 2018) built from the LPC sheets: 4 look attributes, 9 actions",
            "CC-BY-SA 3.0 / GPL-3.0 (LPC art)", "required", "sprites-lpc",
            "the LPC sheets folder or the legacy npy folder"),
    DataSet("frames", "video", "unweave.data.frames:load_frame_folder",
            "your clips as a <label>/<clip>/<frame>.png folder", "yours", "required",
            root_help="a <label>/<clip>/ folder of frames"),
    DataSet("video-npz", "video", "unweave.data.arrays:load_video_npz",
            "your clips: train.npz and test.npz with uint8 x (N, T, C, H, W), optional labels",
            "yours", "required", root_help="the folder of train.npz and test.npz"),
    DataSet("synthetic-series", "series", "unweave.data.synthetic_series:load_synthetic_series",
            "series with a known level and profile family (static) and regimes",
            "unweave's own (Apache-2.0)",
            forwards="unweave.data.synthetic_series:make_synthetic_series"),
    DataSet("etth1", "series", f"{SERIES}:load_etth1",
            "ETTh1 (Zhou et al. 2021): hourly transformer loads, oil temperature as target",
            "CC BY-ND 4.0", "required", "ett", "ETTh1.csv or its folder"),
    DataSet("etth2", "series", f"{SERIES}:load_etth2", "ETTh2: as etth1, the second transformer",
            "CC BY-ND 4.0", "required", "ett", "ETTh2.csv or its folder"),
    DataSet("physionet", "series", f"{SERIES}:load_physionet",
            "PhysioNet/CinC 2012 ICU stays: 10 vitals hourly, mortality and ICU type",
            "ODC-BY 1.0", "required", "physionet2012", "the folder holding set-a/ and Outcomes-a.txt"),
    DataSet("air-quality", "series", f"{SERIES}:load_air_quality",
            "UCI Beijing multi-site air quality: 12 stations, months as samples",
            "CC BY 4.0", "required", "air-quality", "the folder of the 12 PRSA CSV files"),
    DataSet("series-csv", "series", f"{SERIES}:split_series_csv",
            "your series as one long CSV (a group column, a time column, feature and label columns)",
            "yours", "required", root_help="the CSV file"),
    DataSet("series-npz", "series", "unweave.data.arrays:load_series_npz",
            "your arrays: train.npz and test.npz with x (N, T, F), optional mask and labels",
            "yours", "required", root_help="the folder of train.npz and test.npz"),
    DataSet("synthetic-speech", "audio", f"{SPEECH}:load_synthetic_speech",
            "synthetic multi-speaker spoken digit strings (espeak-ng voices)",
            "unweave's own (Apache-2.0); espeak-ng GPL-3.0"),
    DataSet("fsdd", "audio", f"{SPEECH}:load_fsdd",
            "Free Spoken Digit Dataset: 6 speakers x 10 digits x 50 takes",
            "CC BY-SA 4.0", "required", "fsdd", "the recordings folder or its parent"),
    DataSet("fsdd-strings", "audio", f"{SPEECH}:load_fsdd_strings",
            "FSDD takes of one speaker joined into digit strings", "CC BY-SA 4.0", "required",
            "fsdd", "the recordings folder or its parent", forwards=f"{SPEECH}:load_fsdd"),
    DataSet("timit", "audio", f"{SPEECH}:load_timit", "TIMIT (LDC93S1) in its own layout",
            "LDC licence (yours)", "required", "timit", "the TIMIT folder"),
    DataSet("coloured-digits", "fragments", "unweave.data.coloured_digits:load_coloured_digits",
            "MNIST digits in one of 8 colours per sample: digit = content, colour = style",
            "CC BY-SA 3.0 (MNIST)", "required", "mnist", "the folder of the MNIST IDX files"),
    DataSet("phonenums", "fragments", "unweave.data.phonenums:load_phonenums",
            "V3's PhoneNums pages: 10 typed digits in one colour",
            "unweave's own (Apache-2.0); DejaVu font licence"),
    DataSet("notes", "fragments", "unweave.data.notes:load_notes",
            "V3's InsNotes: notes rendered by General MIDI instruments",
            "unweave's own (Apache-2.0); TimGM6mb sound font GPL-2.0"),
    DataSet("sprites-fragments", "fragments", "unweave.data.sprites_fragments:load_sprites_fragments",
            "the frames of Sprites clips: action = content, character = style",
            "CC-BY-SA 3.0 / GPL-3.0 (LPC art)", "required", "sprites-lpc",
            "the LPC sheets folder or the legacy npy folder"),
    DataSet("dsprites", "images", "unweave.data.dsprites:load_dsprites",
            "dSprites (Matthey et al. 2017) on its full factor grid, rendered or read from the npz",
            "Apache-2.0", "optional"),
    DataSet("shapes3d", "images", "unweave.data.shapes3d:load_shapes3d",
            "3DShapes (Burgess & Kim 2018) on its full factor grid, rendered or read from the h5",
            "Apache-2.0", "optional"),
):  # fmt: skip
    register(_entry)


def register_installed(group: str = "unweave.datasets") -> None:
    """Register the :class:`DataSet` each installed package names in the entry-point
    ``group``; one that does not load or is not a :class:`DataSet` is one sentence."""
    from unweave.plugins import installed

    for point, entry in installed(group):
        if not isinstance(entry, DataSet):
            raise UnweaveError(
                f"The entry point '{point.name}' ({point.value}) in {group} is a "
                f"{type(entry).__name__}; expected an unweave.data.registry.DataSet."
            )
        register(entry)


register_installed()


def datasets_of(modality: str) -> list[str]:
    """The names of ``modality``'s data sets, in table order."""
    return [name for name, entry in DATASETS.items() if entry.modality == modality]


def dataset(name: str) -> DataSet:
    """The entry of ``name``, or one sentence listing the known names."""
    if name not in DATASETS:
        raise UnweaveError(f"Unknown data set '{name}'; expected one of: {', '.join(DATASETS)}.")
    return DATASETS[name]


def data_modality(name: str) -> str:
    """The modality of data set ``name`` (``video``, ``series``, ``audio``, ``fragments``,
    ``images``): which models it feeds."""
    return dataset(name).modality


def load_data(name: str, split: str, root: str | Path | None = None, **options: Any) -> Any:
    """Split ``split`` of data set ``name``: a :class:`~unweave.data.base.SequenceData`,
    :class:`~unweave.data.timeseries.SeriesData`, :class:`~unweave.data.fragments.FragmentData`
    or :class:`~unweave.data.ground_truth.GroundTruthImages` by its modality."""
    return dataset(name).load(split, root, **options)


def default_data_root(subfolder: str) -> Path | None:
    """``$UNWEAVE_DATA/<subfolder>`` when ``UNWEAVE_DATA`` is set, else None."""
    base = os.environ.get("UNWEAVE_DATA")
    return Path(base) / subfolder if base else None
