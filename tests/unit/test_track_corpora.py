"""The labelled conversations of each track (tests/data/tracks/<track>) are well formed against that track's rubric
(tests/data/tracks/<track>/RUBRIC.md): every conversation names its source, carries the rubric's dimension scores
and a label that follows from them, and turns of the scored candidate (user) and the other side (assistant)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit import labelled_conversations

TRACKS = Path(__file__).resolve().parents[1] / "data" / "tracks"
RUBRICS = {
    "security": {
        "weights": {
            "threat_understanding": 0.25,
            "incident_handling": 0.20,
            "remediation": 0.20,
            "honesty": 0.20,
            "communication": 0.15,
        },
        "kinds": {"technical-interview", "incident-review", "hearing", "vendor-review"},
    },
    "hr": {
        "weights": {
            "structure": 0.20,
            "legality": 0.15,
            "candidate_experience": 0.20,
            "evidence": 0.30,
            "fairness": 0.15,
        },
        "kinds": {"screening-call", "interview", "panel-interview"},
    },
    "agentic_eng": {
        "weights": {
            "evaluation": 0.25,
            "tools_and_guardrails": 0.20,
            "failure_and_recovery": 0.20,
            "cost_and_latency": 0.15,
            "communication": 0.20,
        },
        "kinds": {"technical-interview", "design-review", "practitioner-interview"},
    },
    "fullstack": {
        "weights": {
            "system_design": 0.25,
            "api_and_data": 0.20,
            "testing_and_debugging": 0.20,
            "tradeoffs_and_adaptation": 0.20,
            "communication": 0.15,
        },
        "kinds": {"system-design-interview", "technical-interview", "experience-interview"},
    },
    "marketing": {
        "weights": {"audience": 0.20, "big_idea": 0.20, "plan": 0.20, "measurement": 0.25, "handling": 0.15},
        "kinds": {"campaign-pitch", "internal-pitch", "interview-case"},
    },
    "implementation": {
        "weights": {"structure": 0.15, "scope": 0.20, "governance": 0.20, "risks": 0.25, "candour": 0.20},
        "kinds": {"kickoff", "status-call", "recovery-call", "interview-case"},
    },
}


def calls_of(track: str) -> list[Path]:
    return sorted((TRACKS / track / "calls").glob("*.json"))


@pytest.mark.parametrize(
    ("track", "path"),
    [(track, path) for track in RUBRICS for path in calls_of(track)],
    ids=lambda value: value.stem if isinstance(value, Path) else value,
)
def test_a_conversation_is_sourced_labelled_by_its_track_rubric_and_retold_turn_by_turn(track, path):
    rubric = RUBRICS[track]
    call = labelled_conversations.assert_sourced_labelled_and_retold(
        path, weights=rubric["weights"], kinds=rubric["kinds"], language="en"
    )
    assert call["track"] == track


@pytest.mark.parametrize("track", sorted(RUBRICS))
def test_a_track_has_its_rubric_and_ten_conversations_from_poor_to_good(track):
    assert (TRACKS / track / "RUBRIC.md").is_file()
    labels = labelled_conversations.labels_of(TRACKS / track / "calls")
    assert len(labels) >= 10
    assert min(labels) <= 2 and max(labels) >= 4, "both ends of the rubric are represented"


@pytest.mark.parametrize("track", sorted(RUBRICS))
def test_a_track_rubric_names_the_dimensions_its_conversations_are_scored_on(track):
    rubric = (TRACKS / track / "RUBRIC.md").read_text()
    assert all(f'"{name}"' in rubric for name in RUBRICS[track]["weights"])
