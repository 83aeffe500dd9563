"""Resource ids and names shared by every service: ``{collection}/{id}``."""

from __future__ import annotations

import re

from svckit.errors import FieldViolation, InvalidArgument, Violations

ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_ID_LENGTH = 63


def valid_id(value: str) -> bool:
    return len(value) <= MAX_ID_LENGTH and ID_PATTERN.match(value) is not None


def check_resource_id(violations: Violations, field_path: str, value: str) -> None:
    if not valid_id(value):
        violations.add(
            field_path,
            f"must be 1-{MAX_ID_LENGTH} lowercase letters, digits and single dashes (got {value[:100]!r})",
        )


def resource_id(name: str, collection: str, field: str) -> str:
    """The id in ``{collection}/{id}``; anything else is INVALID_ARGUMENT naming the field.

    Every id handed out matches the id rule, so anything else cannot name a resource; checking
    it here also keeps NULs and huge strings away from the database.
    """
    prefix = f"{collection}/"
    if not name.startswith(prefix) or not valid_id(name[len(prefix):]):
        raise InvalidArgument(FieldViolation(field, f"must be a resource name like '{collection}/{{id}}' "
                                                    f"(got {name[:100]!r})"))
    return name[len(prefix):]
