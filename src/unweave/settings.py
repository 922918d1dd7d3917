"""Settings checked against their declared types: a config dataclass built from a dict (the
``model`` section, ``--set model.KEY=VALUE``) names an unknown key, a value of the wrong type
or an impossible size in one sentence, before anything is built."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, TypeVar

from unweave.errors import UnweaveError, check_known_keys

Config = TypeVar("Config")

#: Integer settings whose names end so are sizes or counts of parts: at least 1.
SIZE_SUFFIXES = (
    "dim", "size", "channels", "hidden", "width", "height", "units", "features", "nf",
    "segment", "windows", "latents", "classes", "samples",
    "sequences",
)  # fmt: skip


def is_number(value: Any, whole: bool = False) -> bool:
    """True for an int (``whole``) or a finite int/float, never for a bool."""
    if isinstance(value, bool):
        return False
    if whole:
        return isinstance(value, int)
    return isinstance(value, (int, float)) and math.isfinite(value)


def check_number(where: str, value: Any, whole: bool = False, low: float | None = None) -> None:
    """One sentence unless ``value`` is a (whole) number of at least ``low``."""
    if not is_number(value, whole) or (low is not None and value < low):
        kind = "an integer" if whole else "a number"
        bound = "" if low is None else f" >= {low:g}"
        raise UnweaveError(f"{where} is {value!r}; expected {kind}{bound}.")


def _plain_type(hint: Any) -> tuple[type | None, bool]:
    """``(int|float|bool|str or None, whether None is allowed)`` for a field's type hint."""
    optional = False
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        members = [h for h in typing.get_args(hint) if h is not type(None)]
        optional = len(members) < len(typing.get_args(hint))
        hint = members[0] if len(members) == 1 else None
    return (hint if hint in (int, float, bool, str) else None), optional


def check_field_types(config: Any, where: str) -> None:
    """One sentence for the first field of the dataclass ``config`` whose value does not fit
    its declared type (int, float, bool, str), or a size below 1."""
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        kind, optional = _plain_type(hints[field.name])
        value, name = getattr(config, field.name), f"{where}.{field.name}"
        if kind is None or (optional and value is None):
            continue
        if kind is int:
            low = 1 if field.name.endswith(SIZE_SUFFIXES) else 0
            check_number(name, value, whole=True, low=low)
        elif kind is float:
            check_number(name, value)
        elif not isinstance(value, kind):
            expected = "true or false" if kind is bool else "text"
            raise UnweaveError(f"{name} is {value!r}; expected {expected}.")


def config_from_dict(cls: type[Config], values: dict[str, Any], where: str) -> Config:
    """The dataclass ``cls`` built from ``values``, after naming any unknown key (with the
    closest known one) and checking every value's type."""
    check_known_keys(where, values, {f.name for f in dataclasses.fields(cls)})
    config = cls(**values)
    check_field_types(config, where)
    return config
