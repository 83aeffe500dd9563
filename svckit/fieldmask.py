"""Checks an update mask against the fields a resource lets callers write."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf import field_mask_pb2

from svckit.errors import FieldViolation, InvalidArgument


def resolve_update_mask(
    mask: field_mask_pb2.FieldMask, writable: Iterable[str], output_only: Iterable[str] = ()
) -> frozenset[str]:
    """The top-level fields to write. ``*`` means every writable field; an empty mask is refused.

    Unknown and output-only fields are INVALID_ARGUMENT, each named in its own violation.
    """
    writable = frozenset(writable)
    output_only = frozenset(output_only)
    paths = list(mask.paths)
    if not paths:
        raise InvalidArgument(FieldViolation("update_mask", "must name at least one field, or '*' for all"))
    if paths == ["*"]:
        return writable
    violations = []
    chosen = set()
    for index, path in enumerate(paths):
        top = path.split(".", 1)[0]
        where = f"update_mask.paths[{index}]"
        if top in output_only:
            violations.append(FieldViolation(where, f"'{path}' is output only and cannot be updated"))
        elif top not in writable:
            violations.append(FieldViolation(where, f"'{path}' is not a field of this resource"))
        elif "." in path:
            violations.append(FieldViolation(where, f"'{path}': nested paths are not supported; name '{top}'"))
        else:
            chosen.add(top)
    if violations:
        raise InvalidArgument(violations)
    return frozenset(chosen)
