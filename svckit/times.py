"""Protobuf timestamps and Python datetimes."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import timestamp_pb2

from svckit.errors import Violations

# Timestamp's valid range (0001-01-01 to 9999-12-31).
_MIN_SECONDS, _MAX_SECONDS = -62_135_596_800, 253_402_300_799


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def time_of(stamp: timestamp_pb2.Timestamp, field: str, violations: Violations) -> datetime | None:
    """The datetime of a timestamp, or None with a violation when it is out of range or malformed."""
    if not _MIN_SECONDS <= stamp.seconds <= _MAX_SECONDS or not 0 <= stamp.nanos < 1_000_000_000:
        violations.add(field, "is not a valid timestamp")
        return None
    return stamp.ToDatetime(tzinfo=UTC)
