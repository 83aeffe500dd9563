"""Page sizes, signed page tokens and update masks."""

from __future__ import annotations

import base64
import json

import pytest

from persona_svc.entrypoints import convert
from svckit.errors import InvalidArgument
from svckit.fieldmask import resolve_update_mask
from svckit.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageTokens, after_cursor, page_size
from tests.builders import field_mask as mask

TOKENS = PageTokens.from_secret("unit-test-secret")
FILTERS = {"blueprint": "sales", "min_difficulty": 2, "show_deleted": False}
CURSOR = ["2025-01-02T03:04:05.678901+00:00", "persona-id"]


def refused(call, *args, **kwargs) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as raised:
        call(*args, **kwargs)
    return raised.value


# --- page sizes -----------------------------------------------------------------------------------


def test_page_size_defaults_and_clamps():
    assert page_size(0) == DEFAULT_PAGE_SIZE
    assert page_size(7) == 7
    assert page_size(MAX_PAGE_SIZE + 1) == MAX_PAGE_SIZE
    assert page_size(0, default=20, maximum=100) == 20
    assert page_size(500, default=20, maximum=100) == 100


@pytest.mark.parametrize("size", [-1, -50])
def test_negative_page_size_is_refused(size):
    error = refused(page_size, size)
    assert [v.field for v in error.violations] == ["page_size"]
    assert str(size) in error.violations[0].description


# --- page tokens ----------------------------------------------------------------------------------


def test_token_round_trip():
    token = TOKENS.encode(CURSOR, FILTERS)
    assert TOKENS.decode(token, dict(FILTERS)) == CURSOR
    assert "=" not in token and "/" not in token and "+" not in token


def test_empty_token_is_the_first_page():
    assert TOKENS.decode("", FILTERS) is None


def test_token_is_opaque():
    token = TOKENS.encode(CURSOR, FILTERS)
    assert "persona-id" not in token and "sales" not in token


@pytest.mark.parametrize(
    "forged",
    [
        "abc",
        "not-a-token",
        "!!!!",
        "x" * 400,
        "ünïcode",
        "\x00",
        base64.urlsafe_b64encode(json.dumps({"c": CURSOR, "f": "0" * 16}).encode()).decode(),
        base64.urlsafe_b64encode(b"\x00" * 16 + b'{"c":1,"f":"x"}').decode(),
    ],
)
def test_forged_token_is_refused(forged):
    error = refused(TOKENS.decode, forged, FILTERS)
    assert [v.field for v in error.violations] == ["page_token"]
    assert "not a page token" in error.violations[0].description
    assert error.reason == "INVALID_ARGUMENT"


def test_tampered_token_is_refused():
    token = TOKENS.encode(CURSOR, FILTERS)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    mac, payload = raw[:16], raw[16:]
    altered = payload.replace(b"persona-id", b"persona-xx")
    assert altered != payload
    tampered = base64.urlsafe_b64encode(mac + altered).decode().rstrip("=")
    assert "not a page token" in refused(TOKENS.decode, tampered, FILTERS).violations[0].description
    flipped = bytes([raw[0] ^ 1]) + raw[1:]
    forged_mac = base64.urlsafe_b64encode(flipped).decode().rstrip("=")
    assert "not a page token" in refused(TOKENS.decode, forged_mac, FILTERS).violations[0].description


def test_token_of_another_secret_is_refused():
    token = PageTokens.from_secret("another-secret").encode(CURSOR, FILTERS)
    refused(TOKENS.decode, token, FILTERS)


def test_token_reused_with_other_filters_is_refused():
    token = TOKENS.encode(CURSOR, FILTERS)
    for other in ({**FILTERS, "blueprint": "hr"}, {**FILTERS, "show_deleted": True}, {}):
        error = refused(TOKENS.decode, token, other)
        assert [v.field for v in error.violations] == ["page_token"]
        assert "other filters" in error.violations[0].description


def test_token_refusal_names_the_given_field():
    error = refused(TOKENS.decode, "garbage", FILTERS, field="versions_page_token")
    assert error.violations[0].field == "versions_page_token"


def test_a_cursor_starts_the_page_after_it_in_as_many_columns_as_it_has():
    assert after_cursor(None) == ("true", {})
    condition, values = after_cursor(CURSOR)
    assert condition == "(create_time, id) > (:after_0, :after_1)"
    assert values["after_0"].isoformat() == CURSOR[0] and values["after_1"] == "persona-id"
    condition, values = after_cursor([*CURSOR, 3], key="(create_time, analysis_id, position)", newest_first=True)
    assert condition == "(create_time, analysis_id, position) < (:after_0, :after_1, :after_2)"
    assert values["after_2"] == 3


def test_a_cursor_of_another_page_order_is_refused():
    error = refused(after_cursor, CURSOR, key="(create_time, analysis_id, position)")
    assert [v.field for v in error.violations] == ["page_token"]
    assert "earlier version" in error.violations[0].description


# --- update masks ---------------------------------------------------------------------------------

WRITABLE = convert.PERSONA_WRITABLE
OUTPUT_ONLY = convert.PERSONA_OUTPUT_ONLY


def test_mask_picks_the_named_fields():
    assert resolve_update_mask(mask("display_name", "difficulty"), WRITABLE, OUTPUT_ONLY) == {
        "display_name", "difficulty",
    }


def test_star_means_every_writable_field():
    resolved = resolve_update_mask(mask("*"), WRITABLE, OUTPUT_ONLY)
    assert resolved == WRITABLE
    assert not resolved & OUTPUT_ONLY
    assert {"display_name", "traits", "config", "archetype", "protected"} <= resolved


def test_empty_mask_is_refused():
    error = refused(resolve_update_mask, mask(), WRITABLE, OUTPUT_ONLY)
    assert [v.field for v in error.violations] == ["update_mask"]


def test_unknown_field_is_refused_naming_its_path():
    error = refused(resolve_update_mask, mask("display_name", "favourite_colour"), WRITABLE, OUTPUT_ONLY)
    assert [v.field for v in error.violations] == ["update_mask.paths[1]"]
    assert "'favourite_colour' is not a field" in error.violations[0].description


@pytest.mark.parametrize("path", ["etag", "revision", "create_time", "update_time", "delete_time", "name"])
def test_output_only_field_is_refused(path):
    error = refused(resolve_update_mask, mask(path), WRITABLE, OUTPUT_ONLY)
    assert [v.field for v in error.violations] == ["update_mask.paths[0]"]
    assert "output only" in error.violations[0].description


def test_nested_path_is_refused():
    error = refused(resolve_update_mask, mask("config.default_mode"), WRITABLE, OUTPUT_ONLY)
    assert "nested paths" in error.violations[0].description


def test_star_mixed_with_fields_is_not_a_wildcard():
    error = refused(resolve_update_mask, mask("*", "display_name"), WRITABLE, OUTPUT_ONLY)
    assert [v.field for v in error.violations] == ["update_mask.paths[0]"]


def test_every_bad_path_gets_its_own_violation():
    error = refused(resolve_update_mask, mask("nope", "etag", "display_name", "config.x"), WRITABLE, OUTPUT_ONLY)
    assert [v.field for v in error.violations] == [
        "update_mask.paths[0]", "update_mask.paths[1]", "update_mask.paths[3]",
    ]


def test_writable_persona_fields_map_onto_domain_fields():
    from persona_svc.domain.model import WRITABLE_PERSONA_FIELDS

    domain = {convert.PERSONA_FIELD_NAMES.get(name, name) for name in WRITABLE}
    assert domain == set(WRITABLE_PERSONA_FIELDS)
