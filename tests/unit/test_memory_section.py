"""The memory section's episodes: the last call, then one earlier call recalled, within the budget."""

from __future__ import annotations

from datetime import UTC, datetime

from persona_svc.domain.episodes import Episode
from persona_svc.domain.memory import EPISODES, Learned, memory_section


def episode(session_id: str, summary: str = "pricing came up") -> Episode:
    return Episode("p", "c", session_id, summary, "follow_up_agreed", summary, datetime(2026, 12, 1, tzinfo=UTC))


def sources(*recalled: Episode, last: Episode | None = None) -> list[str]:
    section = memory_section((), Learned(last_episode=last), 4_000, recalled)
    return [item.source.rpartition("/")[2] for item in section.items if item.block == EPISODES]


def test_the_last_call_is_said_once_and_the_best_other_recalled_follows_it():
    last, first, second = episode("s3"), episode("s1"), episode("s2")
    assert sources(last, first, second, last=last) == ["s3", "s1"]
    assert sources(first, second) == ["s1"]
    assert sources(last, last=last) == ["s3"]


def test_a_recalled_call_that_does_not_fit_the_budget_is_left_out():
    last, long_call = episode("s2"), episode("s1", "x" * 500)
    section = memory_section((), Learned(last_episode=last), 200, (long_call,))
    assert [item.source.rpartition("/")[2] for item in section.items] == ["s2"] and section.truncated
