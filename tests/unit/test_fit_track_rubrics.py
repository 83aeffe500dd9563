"""The track rubric fit (devtools/fit_track_rubrics.py) with ``--language es``: it reads a track's Spanish labelled
conversations from calls_es, measures them with the track's Spanish phrases, and names the tracks that have none. The
conversations are a tiny fixture written here, not labelled data."""

from __future__ import annotations

import json

import pytest

from analysis_svc.domain.tracks import TRACK_RUBRICS, security
from calls.job_tracks import Blueprint
from devtools import fit_track_rubrics

ASKED = "Nos robaron las claves de firma. ¿Qué hicieron?"
ANSWERS = [
    "No puedo hacer comentarios, fue un ataque muy sofisticado.",
    "Lo investigamos y bloqueamos el acceso.",
    "Primero contuvimos el incidente aislando el servidor y conservamos los logs.",
    "Primero contuvimos el incidente aislando el servidor, conservamos los logs para el análisis forense, luego "
    "rotamos las claves, restauramos desde copias de seguridad y notificamos al regulador.",
]


def _conversation(label: int, answer: str, language: str = "es") -> dict[str, object]:
    return {"id": f"respuesta-{label}", "track": "security", "language": language, "label": label,
            "dimensions": dict.fromkeys(security.RUBRIC.names, label),
            "turns": [{"role": "assistant", "text": ASKED}, {"role": "user", "text": answer}]}


@pytest.fixture
def tracks(tmp_path):
    folder = tmp_path / Blueprint.SECURITY / "calls_es"
    folder.mkdir(parents=True)
    for label, answer in enumerate(ANSWERS, start=1):
        (folder / f"respuesta-{label}.json").write_text(json.dumps(_conversation(label, answer)))
    return tmp_path


def test_the_spanish_conversations_are_read_from_calls_es_and_the_tracks_with_none_are_named(tracks, capsys):
    fit_track_rubrics.main(["--language", "es"], tracks)
    said = capsys.readouterr().out

    assert f"## security: {len(ANSWERS)} conversations (es)" in said
    assert "before, the track's English phrases" in said
    for track in TRACK_RUBRICS:
        if track != Blueprint.SECURITY:
            assert f"## {track}: no labelled conversations in es yet ({track}/calls_es)" in said


def test_the_spanish_conversations_are_measured_with_the_spanish_phrases(tracks):
    calls = fit_track_rubrics.calls_of(security.RUBRIC, "es", tracks)
    handling = security.RUBRIC.names.index(security.INCIDENT_HANDLING)

    in_spanish = [row[handling] for row in fit_track_rubrics.factor_rows(security.RUBRIC, calls, "es")]
    in_english = [row[handling] for row in fit_track_rubrics.factor_rows(security.RUBRIC, calls)]

    assert in_spanish == sorted(in_spanish) and in_spanish[-1] == 100
    assert max(in_english) < in_spanish[-1]


def test_english_reads_calls_not_calls_es(tracks, capsys):
    fit_track_rubrics.main([], tracks)

    assert "## security: no labelled conversations in en yet (security/calls)" in capsys.readouterr().out


def test_a_conversation_in_another_language_is_refused(tracks):
    (tracks / Blueprint.SECURITY / "calls_es" / "respuesta-9.json").write_text(
        json.dumps(_conversation(9, "We isolated the server.", "en")))

    with pytest.raises(SystemExit, match="respuesta-9"):
        fit_track_rubrics.main(["--language", "es"], tracks)
