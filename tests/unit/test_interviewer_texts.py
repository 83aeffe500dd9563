"""What the local engine writes to the interviewer, in each language it understands: every English text has its
counterpart, keyed the same way and taking the same fields, and a Spanish call's suggestions are written in Spanish
from end to end (follow-ups, objections, value, pitches, answers, curveballs of every track and stage)."""

from __future__ import annotations

import string
from dataclasses import fields

import pytest

from analysis_svc.domain.conversation import ObjectionKind, Topic, ValueTheme, measure
from analysis_svc.domain.interviewer_texts import ENGLISH, SPANISH, InterviewerTexts
from analysis_svc.domain.phrasebook import TEXTS_BY_LANGUAGE, UNDERSTOOD, phrases_for, texts_for
from analysis_svc.domain.say_meter import FACTORS, score
from analysis_svc.domain.suggestions import CallStage, curveballs_in, suggest
from analysis_svc.domain.tracks import TRACK_RUBRICS, security
from calls.job_tracks import Blueprint
from calls.turns import Role, Turn

TABLES = sorted(field.name for field in fields(InterviewerTexts))


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _texts(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else (value,)


def test_every_language_understood_has_its_texts_and_another_gets_english():
    assert set(TEXTS_BY_LANGUAGE) == UNDERSTOOD
    assert texts_for("de") is texts_for("") is ENGLISH and texts_for("es") is SPANISH


def test_the_english_tables_cover_every_topic_objection_and_theme():
    assert set(ENGLISH.topics) == set(ENGLISH.commercial_questions) == set(ENGLISH.technical_questions) == set(Topic)
    assert set(ENGLISH.objections) == set(ENGLISH.objection_advice) == set(ObjectionKind)
    assert set(ENGLISH.themes) == set(ValueTheme)
    tracks = {(rubric.blueprint, name) for rubric in TRACK_RUBRICS.values() for name in rubric.names}
    assert set(ENGLISH.factor_names) == {*FACTORS, *(name for _, name in tracks)} and set(ENGLISH.track_gaps) == tracks


@pytest.mark.parametrize("language", sorted(TEXTS_BY_LANGUAGE.keys() - {"en"}))
@pytest.mark.parametrize("table", TABLES)
def test_every_english_text_has_its_counterpart_with_the_same_fields(language, table):
    english, translated = getattr(ENGLISH, table), getattr(TEXTS_BY_LANGUAGE[language], table)
    assert translated.keys() == english.keys()
    for key, said in english.items():
        for source, counterpart in zip(_texts(said), _texts(translated[key]), strict=True):
            assert _fields(counterpart) == _fields(source), (table, key)
            assert counterpart.strip() and (counterpart != source or not source.strip("{}")), (table, key)


def test_the_spanish_labels_tell_suggestions_apart_as_the_english_ones_do():
    for texts in (ENGLISH, SPANISH):
        labels = [label for label, _ in texts.curveballs.values()]
        assert len(set(labels)) == len(labels)


def call(*lines: tuple[str, str]) -> list[Turn]:
    return [Turn(sequence, Role(role), text) for sequence, (role, text) in enumerate(lines, start=1)]


# An unanswered price objection, a long pitch about saving time, a persona that runs on: every kind of suggestion.
SPANISH_CALL = call(
    ("user", "Buenos días, gracias por atenderme. ¿Cómo organizan hoy los turnos de la clínica?"),
    ("assistant", "Con una hoja de cálculo que actualiza mi coordinadora cada viernes por la tarde, y la verdad es "
                  "que cada semana se nos escapan cambios, hay enfermeras que se enteran tarde de su turno, otras que "
                  "hacen horas de más sin que nadie lo apunte, y al final del mes nadie sabe cuadrar las horas extra "
                  "ni explicar por qué la nómina sale distinta de lo previsto. Además, cuando alguien se pone enfermo "
                  "un domingo, la coordinadora tiene que llamar una por una a todas las enfermeras del equipo hasta "
                  "encontrar a alguien que lo cubra, y eso le lleva media mañana, mientras los pacientes esperan y "
                  "el resto del equipo se queja de que siempre llaman a las mismas."),
    ("user", "Nuestra herramienta les ahorra tiempo cada semana: las enfermeras cambian turnos desde el móvil, la "
             "coordinadora aprueba con un toque, el cuadrante se actualiza solo, las horas extra quedan registradas "
             "y la nómina sale sin revisar nada a mano, así que ganan horas de trabajo cada semana y se ahorran "
             "tiempo en cada cierre de mes, que es justo lo que más tiempo les quita hoy. Y cuando alguien se pone "
             "enfermo, la herramienta avisa a la vez a todas las enfermeras disponibles y la primera que acepta se "
             "queda el turno, sin una sola llamada."),
    ("assistant", "Suena bien, pero es demasiado caro para nosotros, no tenemos presupuesto para algo así."),
)


def test_a_spanish_calls_suggestions_are_written_in_spanish():
    suggestions = suggest(measure(SPANISH_CALL, phrases=phrases_for("es")), SPANISH_CALL, Blueprint.SALES,
                          CallStage.MIDDLE, phrases=phrases_for("es"), texts=texts_for("es"))

    english = {*(label for label, _ in ENGLISH.curveballs.values()),
               *(ENGLISH.templates[key] for key in ("interrupt_label", "shorter_label"))}
    assert suggestions and not english & {suggestion.label for suggestion in suggestions}
    assert SPANISH.templates["interrupt_label"] in {suggestion.label for suggestion in suggestions}
    assert SPANISH.templates["shorter_label"] in {suggestion.label for suggestion in suggestions}
    objection = SPANISH.templates["unanswered_objection_label"].format(
        kind=SPANISH.objections[ObjectionKind.PRICE], sequence=4)
    assert objection in {suggestion.label for suggestion in suggestions}
    assert all(not text.startswith(("Go back", "Build on", "Show more", "Cut in", "Keep answers"))
               for text in (suggestion.text for suggestion in suggestions))


@pytest.mark.parametrize("blueprint", list(Blueprint))
def test_every_tracks_curveballs_are_written_in_the_calls_language(blueprint):
    for stage in CallStage:
        english, spanish = curveballs_in(ENGLISH)[blueprint][stage], curveballs_in(SPANISH)[blueprint][stage]
        assert [c.moot_once for c in spanish] == [c.moot_once for c in english]
        assert all(s.label != e.label and s.text != e.text for s, e in zip(spanish, english, strict=True))


def test_a_spanish_calls_reasoning_is_written_in_spanish():
    metrics = measure(SPANISH_CALL, phrases=phrases_for("es"))
    reasoning = score(metrics, Blueprint.SALES, texts=SPANISH).reasoning
    gap = SPANISH.gaps["unanswered_objection"].format(kind=SPANISH.objections[ObjectionKind.PRICE])
    assert reasoning.endswith(f"; {gap}.") and score(metrics, Blueprint.SALES).reasoning.endswith(
        "; left the price objection unanswered.")


def test_a_track_reading_names_its_strength_and_gap_in_the_texts_language():
    answer = [Turn(2, Role.USER, "First we confirm the scope and isolate the build servers, and we assume the "
                                 "attackers are still inside.")]
    tally = security.RUBRIC.tally(answer)
    english = score(measure(answer), Blueprint.SECURITY, tally).reasoning
    assert english == "Incident handling is the strength; has not said who would attack what, and how."
    strength = SPANISH.factor_names["incident_handling"]
    gap = SPANISH.track_gaps[Blueprint.SECURITY, "threat_understanding"]
    assert score(measure(answer), Blueprint.SECURITY, tally, SPANISH).reasoning == SPANISH.templates[
        "strength"].format(factor=strength, gap=gap)
