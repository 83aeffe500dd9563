"""Frozen domain dataclasses as JSON records and back (idempotent replies, version snapshots).

Datetimes become ISO strings, enums their values, tuples lists; ``from_record`` reads the
dataclass's annotations to turn them back, nested dataclasses included.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from datetime import datetime
from typing import Any, TypeVar

T = TypeVar("T")


def to_record(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_record(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [to_record(item) for item in value]
    if isinstance(value, dict):
        return {key: to_record(item) for key, item in value.items()}
    return value


_HINTS: dict[type[Any], dict[str, Any]] = {}  # a class's resolved annotations, read once


def _hints(cls: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _read(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        present = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _read(present[0], value) if len(present) == 1 else value
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return tuple(_read(item, element) for element in value)
    if origin is dict:
        _, item = typing.get_args(hint)
        return {key: _read(item, element) for key, element in value.items()}
    if hint is datetime:
        return datetime.fromisoformat(value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_record(hint, value)
    return value


def from_record(cls: type[T], record: dict[str, Any]) -> T:
    hints = _hints(cls)
    return cls(**{name: _read(hints[name], value) for name, value in record.items()})
