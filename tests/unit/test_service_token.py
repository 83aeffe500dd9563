"""A service's own token file: required at start, followed when rotated, and kept when it vanishes for a moment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from svckit.transport import ServiceToken


def rewrite(path: Path, token: str) -> None:
    """Replaces the token at once, as a renewed secret does."""
    staged = path.with_suffix(".new")
    staged.write_text(token + "\n")
    staged.replace(path)


def test_a_service_token_file_that_cannot_be_read_stops_the_start(tmp_path):
    with pytest.raises(SystemExit, match=r"missing\.jwt"):
        ServiceToken(str(tmp_path / "missing.jwt"))


def test_a_rotated_service_token_is_sent_and_a_vanished_file_leaves_the_last_one(tmp_path):
    path = tmp_path / "service.jwt"
    path.write_text("first\n")
    token = ServiceToken(str(path), check_seconds=0)
    assert token.header() == "Bearer first"
    rewrite(path, "second")
    assert token.header() == "Bearer second"
    path.unlink()  # a secret volume between two versions
    assert token.header() == "Bearer second"


def test_a_service_token_replaced_within_one_tick_of_the_file_system_clock_is_read_again(tmp_path):
    path = tmp_path / "service.jwt"
    path.write_text("first\n")
    token = ServiceToken(str(path), check_seconds=0)
    stamp = path.stat().st_mtime_ns
    rewrite(path, "second")
    os.utime(path, ns=(stamp, stamp))  # as a coarse file system clock shows two writes within one tick
    assert token.header() == "Bearer second"
