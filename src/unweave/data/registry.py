"""Data sets by name: what ``--data NAME`` means on the command line."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from unweave.data.base import SequenceData
from unweave.data.fragments import FragmentData
from unweave.data.ground_truth import GroundTruthImages
from unweave.data.timeseries import SeriesData
from unweave.errors import UnweaveError, check_known_keys

SEQUENCE_DATASETS = ("toy-sprites", "sprites", "frames")
SERIES_DATASETS = (
    "synthetic-series",
    "etth1",
    "etth2",
    "physionet",
    "air-quality",
    "series-csv",
)


class Loader(NamedTuple):
    """Where a data set's loader lives, the options it takes and, for a data set read from
    files, the folder under ``UNWEAVE_DATA`` that ``root`` defaults to."""

    function: str  # "module:function", called as function(split=..., [root=...,] **options)
    options: frozenset[str]
    data_folder: str | None = None


#: Options of every speech loader (:class:`unweave.data.speech.Segmenting`, and the test
#: split's :class:`unweave.data.conditions.TestCondition`).
SPEECH_OPTIONS = frozenset(
    {"features", "segment", "shift", "chunk_samples", "normalise"}
    | {"test_snr_db", "test_channel_seed"}
)

#: Speech data set -> its loader: a new data set is one entry here.
AUDIO_LOADERS: dict[str, Loader] = {
    "synthetic-speech": Loader(
        "unweave.data.speech:load_synthetic_speech",
        SPEECH_OPTIONS | {"n_speakers", "utterances_per_speaker", "words_per_utterance", "seed"},
    ),
    "fsdd": Loader("unweave.data.speech:load_fsdd", SPEECH_OPTIONS, "fsdd"),
    "fsdd-strings": Loader(
        "unweave.data.speech:load_fsdd_strings",
        SPEECH_OPTIONS | {"words_per_utterance", "seed"},
        "fsdd",
    ),
    "timit": Loader("unweave.data.speech:load_timit", SPEECH_OPTIONS, "timit"),
}
AUDIO_DATASETS = tuple(AUDIO_LOADERS)

#: Fragment data set -> its loader: a new data set is one entry here.
FRAGMENT_LOADERS: dict[str, Loader] = {
    "coloured-digits": Loader(
        "unweave.data.coloured_digits:load_coloured_digits",
        frozenset({"n_samples", "n_fragments", "seed", "extra"}),
        "mnist",
    ),
    "phonenums": Loader(
        "unweave.data.phonenums:load_phonenums",
        frozenset({"n_pages", "n_ood_pages", "n_fragments", "seed", "font", "wrap_noise"}),
    ),
    "notes": Loader(
        "unweave.data.notes:load_notes",
        frozenset({"n_samples_per_instrument", "seed", "bins", "soundfont", "zscore"}),
    ),
    "sprites-fragments": Loader(
        "unweave.data.sprites_fragments:load_sprites_fragments",
        frozenset({"image_size", "test_actions", "seed"}),
        "sprites-lpc",
    ),
}
FRAGMENT_DATASETS = tuple(FRAGMENT_LOADERS)
IMAGE_DATASETS = ("dsprites", "shapes3d")


#: Modality -> its data sets: what kind of model each data set needs.
DATASETS_BY_MODALITY: dict[str, tuple[str, ...]] = {
    "video": SEQUENCE_DATASETS,
    "series": SERIES_DATASETS,
    "audio": AUDIO_DATASETS,
    "fragments": FRAGMENT_DATASETS,
    "images": IMAGE_DATASETS,
}


def data_modality(name: str) -> str:
    """The modality of :data:`DATASETS_BY_MODALITY` whose data sets include ``name``."""
    for modality, names in DATASETS_BY_MODALITY.items():
        if name in names:
            return modality
    every = [n for names in DATASETS_BY_MODALITY.values() for n in names]
    raise UnweaveError(f"Unknown data set '{name}'; expected one of: {', '.join(every)}.")


def load_data(
    name: str, split: str, root: str | Path | None = None, **options
) -> SequenceData | SeriesData | FragmentData | GroundTruthImages:
    """Split ``split`` of any data set by name (video, series, audio, fragments or images)."""
    modality = data_modality(name)
    if modality == "images":
        return load_image_data(name, split, root, **options)
    if modality == "series":
        return load_series_data(name, split, root, **options)
    if modality == "audio":
        return load_audio_data(name, split, root, **options)
    if modality == "fragments":
        return load_fragment_data(name, split, root, **options)
    return load_sequence_data(name, split, root, **options)


def load_image_data(
    name: str, split: str, root: str | Path | None = None, **options
) -> GroundTruthImages:
    """A ground-truth image set on its full factor grid: ``dsprites`` (737,280 images of 64x64)
    or ``shapes3d`` (480,000 RGB images of 64x64).

    Rendered by unweave and cached when ``root`` is None; otherwise read from the original
    file (``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` / ``3dshapes.h5``) or a folder
    holding it. These sets have no published split: as in disentanglement_lib, models train
    on the whole grid and the metrics sample from it, so ``train`` and ``test`` are the same.
    """
    if split not in ("train", "test"):
        raise UnweaveError(f"Unknown split '{split}'; expected 'train' or 'test'.")
    check_known_keys("data.options", options, set())
    if name == "dsprites":
        from unweave.data.dsprites import load_dsprites

        return dataclasses.replace(load_dsprites(root), split=split)
    if name == "shapes3d":
        from unweave.data.shapes3d import load_shapes3d

        return dataclasses.replace(load_shapes3d(root), split=split)
    raise UnweaveError(f"Unknown data set '{name}'; expected one of: {', '.join(IMAGE_DATASETS)}.")


def load_fragment_data(
    name: str, split: str, root: str | Path | None = None, **options
) -> FragmentData:
    """Split ``split`` ("train", "valid", "test" or "ood", the held-out styles) of a content /
    style data set: samples of fragments ``(N, n, C, H, W)`` sharing one style.

    ``coloured-digits`` reads MNIST IDX files (``root`` default ``$UNWEAVE_DATA/mnist``);
    ``phonenums`` types V3's PhoneNums pages in-process and ``notes`` renders the General
    MIDI sound font of pretty-midi, no files needed; ``sprites-fragments`` serves the frames
    of Sprites clips (``root`` default ``$UNWEAVE_DATA/sprites-lpc``). Each takes the
    options of :data:`FRAGMENT_LOADERS`, documented by its loader.
    """
    return _load_from_table(FRAGMENT_LOADERS, name, split, root, options)


def load_audio_data(name: str, split: str, root: str | Path | None = None, **options) -> SeriesData:
    """Split ``split`` of a speech data set as 20-frame segments ``(N, 20, F)``.

    ``synthetic-speech`` needs no files (espeak-ng in-process); ``fsdd`` reads the Free
    Spoken Digit Dataset and ``fsdd-strings`` joins its takes into digit strings of one
    speaker (``root`` default ``$UNWEAVE_DATA/fsdd``); ``timit`` reads the TIMIT layout
    (``root`` default ``$UNWEAVE_DATA/timit``). Options: ``features`` (``"stft"``, DBSE's, or
    ``"fbank"``, FHVAE's), ``segment``, ``shift``, ``chunk_samples``, ``normalise``
    (:class:`unweave.data.speech.Segmenting`), ``test_snr_db`` and ``test_channel_seed``
    (the test split under noise and channel mismatch,
    :class:`unweave.data.conditions.TestCondition`); for ``synthetic-speech`` also
    ``n_speakers``, ``utterances_per_speaker``, ``words_per_utterance`` and ``seed``, for
    ``fsdd-strings`` ``words_per_utterance`` and ``seed`` (:data:`AUDIO_LOADERS`).
    """
    return _load_from_table(AUDIO_LOADERS, name, split, root, options)


def _load_from_table(
    loaders: dict[str, Loader], name: str, split: str, root: str | Path | None, options: dict
) -> Any:
    """Split ``split`` of data set ``name`` by its entry in ``loaders``, its options checked."""
    loader = loaders.get(name)
    if loader is None:
        raise UnweaveError(f"Unknown data set '{name}'; expected one of: {', '.join(loaders)}.")
    check_known_keys("data.options", options, set(loader.options))
    module, function = loader.function.split(":")
    load = getattr(importlib.import_module(module), function)
    if loader.data_folder is None:
        return load(split=split, **options)
    return load(split=split, root=_data_root(name, root, loader.data_folder), **options)


def _data_root(name: str, root: str | Path | None, subfolder: str) -> Path:
    root = root or default_data_root(subfolder)
    if root is None:
        raise UnweaveError(
            f"The '{name}' data set needs --root PATH, or UNWEAVE_DATA set to a folder "
            f"holding {subfolder}/."
        )
    return Path(root)


def load_series_data(
    name: str, split: str, root: str | Path | None = None, **options
) -> SeriesData:
    """Split ``split`` ("train", "valid" where the set has one, "test") of a series data set.

    ``synthetic-series`` needs no files; ``etth1`` / ``etth2`` read ``ETTh1.csv`` /
    ``ETTh2.csv`` (``root`` is the file or its folder, default ``$UNWEAVE_DATA/ett``);
    ``physionet`` reads ``set-a`` (option ``set_name``) and ``Outcomes-a.txt`` under ``root``
    (default ``$UNWEAVE_DATA/physionet2012``); ``air-quality`` reads the 12 PRSA CSVs in
    ``root`` (default ``$UNWEAVE_DATA/air-quality``); ``series-csv`` reads the user's CSV file
    ``root`` with the options of :func:`unweave.data.timeseries.split_series_csv`.
    """
    from unweave.data import timeseries

    allowed = {
        "synthetic-series": {"n_train", "n_test", "seed", "n_windows", "window", "n_features"},
        "physionet": {"set_name"},
        "series-csv": {
            "time_column",
            "feature_columns",
            "group_column",
            "sequence_length",
            "test_fraction",
            "seed",
            "static_labels",
            "dynamic_labels",
        },
    }
    check_known_keys("data.options", options, allowed.get(name, set()))
    if name == "synthetic-series":
        from unweave.data.synthetic_series import load_synthetic_series

        return load_synthetic_series(split, **options)
    if name in ("etth1", "etth2"):
        path = _data_root(name, root, "ett")
        if path.is_dir():
            path = path / f"{name.upper().replace('ETTH', 'ETTh')}.csv"
        return timeseries.load_etth1(path, split, **options)
    if name == "physionet":
        return timeseries.load_physionet(_data_root(name, root, "physionet2012"), split, **options)
    if name == "air-quality":
        return timeseries.load_air_quality(_data_root(name, root, "air-quality"), split, **options)
    if name == "series-csv":
        missing = [
            k for k in ("time_column", "feature_columns", "group_column") if k not in options
        ]
        if root is None or missing:
            raise UnweaveError(
                "The 'series-csv' data set needs --root FILE.csv and --set data.options.KEY=... "
                "for time_column, feature_columns (a list) and group_column."
            )
        return timeseries.split_series_csv(Path(root), split, **options)
    raise UnweaveError(f"Unknown data set '{name}'; expected one of: {', '.join(SERIES_DATASETS)}.")


def default_data_root(subfolder: str) -> Path | None:
    """``$UNWEAVE_DATA/<subfolder>`` when ``UNWEAVE_DATA`` is set, else None."""
    base = os.environ.get("UNWEAVE_DATA")
    return Path(base) / subfolder if base else None


def check_loader_options(
    loader: Callable[..., Any], options: dict[str, Any], positional: int
) -> None:
    """Name an unknown ``data.options`` key (and the closest known one) before calling
    ``loader``, whose first ``positional`` parameters (split, root) are not options."""
    names = list(inspect.signature(loader).parameters)[positional:]
    check_known_keys("data.options", options, set(names))


def load_sequence_data(
    name: str, split: str, root: str | Path | None = None, **options
) -> SequenceData:
    """Load split ``split`` ("train" / "test") of the sequence data set ``name``.

    ``toy-sprites`` needs no files; ``sprites`` reads LPC sheets or the legacy npy files at
    ``root`` (default ``$UNWEAVE_DATA/sprites-lpc``); ``frames`` reads a
    ``<label>/<clip>/<frame>.png`` folder at ``root``. ``options`` go to the family's loader.
    """
    if split not in ("train", "test"):
        raise UnweaveError(f"Unknown split '{split}'; expected 'train' or 'test'.")
    if name == "toy-sprites":
        from unweave.data.toy_sprites import load_toy_sprites

        check_loader_options(load_toy_sprites, options, positional=1)
        return load_toy_sprites(split, **options)
    if name == "sprites":
        from unweave.data.sprites import load_sprites

        root = root or default_data_root("sprites-lpc")
        if root is None:
            raise UnweaveError(
                "Sprites needs --root PATH (the LPC sheets folder or the legacy npy folder), "
                "or UNWEAVE_DATA set to a folder holding sprites-lpc/."
            )
        check_loader_options(load_sprites, options, positional=2)
        return load_sprites(Path(root), split, **options)
    if name == "frames":
        from unweave.data.frames import load_frame_folder

        if root is None:
            raise UnweaveError(
                "The 'frames' data set needs --root PATH to a <label>/<clip>/ folder."
            )
        check_loader_options(load_frame_folder, options, positional=2)
        return load_frame_folder(Path(root), split, **options)
    raise UnweaveError(
        f"Unknown data set '{name}'; expected one of: {', '.join(SEQUENCE_DATASETS)}."
    )
