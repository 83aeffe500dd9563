"""A session's interviewer is asked of the transcript service once and then kept, per organization, within a
bound; a session not found is asked for again."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY

from analysis_svc.adapters.session_directory import SessionDirectory
from svckit.errors import NotFound


class _Sessions:
    """The transcript service's sessions by organization and id, counting the reads."""

    def __init__(self, interviewers: dict[tuple[str, str], str]) -> None:
        self.interviewers = interviewers
        self.reads = 0

    async def session(self, organization: str, session_id: str) -> SimpleNamespace:
        self.reads += 1
        if (organization, session_id) not in self.interviewers:
            raise NotFound(f"sessions/{session_id}", reason="SESSION_NOT_FOUND")
        return SimpleNamespace(interviewer=self.interviewers[organization, session_id])


def _lookups(result: str) -> float:
    return REGISTRY.get_sample_value("sparring_analysis_session_lookups_total", {"result": result}) or 0


async def test_an_interviewer_is_read_once_per_organization_and_session_and_counted():
    sessions = _Sessions({("acme", "call-1"): "alice@acme", ("globex", "call-1"): "carol@globex"})
    directory = SessionDirectory(sessions, max_sessions=10)
    hits, misses = _lookups("hit"), _lookups("miss")
    assert [await directory.interviewer("acme", "call-1") for _ in range(3)] == ["alice@acme"] * 3
    assert await directory.interviewer("globex", "call-1") == "carol@globex"
    assert sessions.reads == 2
    assert (_lookups("hit") - hits, _lookups("miss") - misses) == (2, 2)


async def test_a_session_not_found_is_asked_for_again_and_the_least_recently_used_goes_first():
    sessions = _Sessions({("acme", "call-1"): "alice@acme", ("acme", "call-2"): "bob@acme"})
    directory = SessionDirectory(sessions, max_sessions=1)
    for _ in range(2):
        with pytest.raises(NotFound):
            await directory.interviewer("globex", "call-1")
    assert sessions.reads == 2
    await directory.interviewer("acme", "call-1")
    await directory.interviewer("acme", "call-2")  # the bound is one session: call-1 goes
    await directory.interviewer("acme", "call-1")
    assert sessions.reads == 5
