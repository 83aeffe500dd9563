"""Proto enum values in requests, checked: an unknown number is INVALID_ARGUMENT naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from svckit.errors import FieldViolation, InvalidArgument

T = TypeVar("T")


def enum_of(mapping: Mapping[int, T], value: int, field: str, enum_type: Any) -> T:
    """``mapping[value]``; ``enum_type`` is the generated enum wrapper, named in the error."""
    try:
        return mapping[value]
    except KeyError:
        raise InvalidArgument(FieldViolation(field, f"{value} is not a known {enum_type.DESCRIPTOR.name}")) from None


def enum_filter(mapping: Mapping[int, T], value: int, field: str, enum_type: Any) -> T | None:
    """As ``enum_of``, for a filter: the unspecified value (0) means no filter, None."""
    return None if value == 0 else enum_of(mapping, value, field, enum_type)
