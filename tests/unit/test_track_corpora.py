"""The labelled conversations of each track (tests/data/tracks/<track>), in English (calls/) and in Spanish (calls_es/),
are well formed against that track's rubric (tests/data/tracks/<track>/RUBRIC.md): every conversation names its
source, carries the rubric's dimension scores and a label that follows from them, and turns of the scored candidate
(user) and the other side (assistant). The two languages never share a conversation's id or a source."""

from __future__ import annotations

import json
import re
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


FOLDERS = {"calls": "en", "calls_es": "es"}  # each corpus folder of a track and the language of its conversations
SOURCE_REFERENCE = re.compile(r"https?://[^\s,()]+|[\w.-]+/[\w.-]+@[0-9a-f]{40}:[^\s,()]+")


def calls_of(track: str, folder: str = "calls") -> list[Path]:
    return sorted((TRACKS / track / folder).glob("*.json"))


def addresses_in(source: str) -> set[str]:
    """The addresses (URLs, owner/repo@commit:path) a conversation's `source` names."""
    return {reference.rstrip(".;:").removesuffix("/") for reference in SOURCE_REFERENCE.findall(source)}


def sources_of(track: str, folder: str) -> set[str]:
    return {
        address for path in calls_of(track, folder) for address in addresses_in(json.loads(path.read_text())["source"])
    }


@pytest.mark.parametrize(
    ("track", "folder", "path"),
    [(track, folder, path) for track in RUBRICS for folder in FOLDERS for path in calls_of(track, folder)],
    ids=lambda value: value.stem if isinstance(value, Path) else value,
)
def test_a_conversation_is_sourced_labelled_by_its_track_rubric_and_retold_turn_by_turn(track, folder, path):
    rubric = RUBRICS[track]
    call = labelled_conversations.assert_sourced_labelled_and_retold(
        path, weights=rubric["weights"], kinds=rubric["kinds"], language=FOLDERS[folder]
    )
    assert call["track"] == track


@pytest.mark.parametrize("track", sorted(RUBRICS))
def test_a_track_has_six_spanish_conversations_from_poor_to_good(track):
    labels = labelled_conversations.labels_of(TRACKS / track / "calls_es")
    assert len(labels) >= 6
    assert min(labels) <= 2 and max(labels) >= 4, "both ends of the rubric are represented"


@pytest.mark.parametrize("track", sorted(RUBRICS))
def test_the_english_and_spanish_conversations_of_a_track_share_no_id_and_no_source(track):
    english, spanish = ({path.stem for path in calls_of(track, folder)} for folder in FOLDERS)
    assert not english & spanish
    spanish_sources = [json.loads(path.read_text())["source"] for path in calls_of(track, "calls_es")]
    assert all(addresses_in(source) for source in spanish_sources), "a Spanish conversation names its source's address"
    assert not sources_of(track, "calls") & sources_of(track, "calls_es")


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
