"""A call held in Spanish is measured with the Spanish phrases: questions with or without their marks, topics,
hesitations and how the seller meets them, pushing after a no, listening and an agreed, dated next step; accents
dropped by speech-to-text still match. The same exchanges read with the English phrases find next to nothing."""

from __future__ import annotations

import json

import pytest

from analysis_svc.domain.coaching import EXPLORED, IGNORED
from analysis_svc.domain.conversation import ENGLISH, Topic, measure
from analysis_svc.domain.phrasebook import phrases_for
from analysis_svc.domain.phrases_es import SPANISH
from analysis_svc.domain.running import advance, from_record, to_record
from analysis_svc.domain.say_meter import Blueprint, score
from calls.turns import Role, Turn


def call(*lines: tuple[str, str]) -> list[Turn]:
    return [Turn(n, Role(role), text) for n, (role, text) in enumerate(lines, start=1)]


DISCOVERY = call(
    ("user", "Hola Marta, gracias por atenderme. Cuéntame, cómo gestionáis ahora las citas de la clínica"),
    ("assistant", "Con una hoja de cálculo, y la verdad es que se nos escapan muchas citas."),
    ("user", "Entiendo. Y eso cuánto os cuesta al mes, más o menos"),
    ("assistant", "Unos dos mil euros en huecos vacíos, y el cambio lo tiene que aprobar mi socio."),
    ("user", "Si te he entendido bien, son dos mil euros al mes. ¿Qué plazo tenéis para resolverlo?"),
    ("assistant", "Antes de septiembre, cuando empieza la temporada."),
    ("user", "¿Te parece si lo vemos con tu socio el martes a las diez?"),
    ("assistant", "Sí, el martes a las diez me va bien."),
)


def test_questions_are_found_with_their_marks_without_them_and_after_a_clause():
    metrics = measure(DISCOVERY, phrases=SPANISH)
    assert metrics.candidate_questions == 4
    assert metrics.open_buyer_questions >= 2


def test_the_topics_a_spanish_call_covers_are_found():
    metrics = measure(DISCOVERY, phrases=SPANISH)
    assert {Topic.PAIN, Topic.BUDGET, Topic.TIMELINE, Topic.DECISION_PROCESS} <= metrics.topics_covered


def test_listening_and_an_agreed_dated_step_are_found():
    metrics = measure(DISCOVERY, phrases=SPANISH)
    assert metrics.listening_signals >= 2 and metrics.playbacks >= 1
    assert (metrics.next_step_committed, metrics.next_step_dated) == (True, True)


def test_the_english_phrases_find_next_to_nothing_in_it():
    english, spanish = measure(DISCOVERY, phrases=ENGLISH), measure(DISCOVERY, phrases=SPANISH)
    assert not english.next_step_committed and english.listening_signals == 0
    assert score(spanish, Blueprint.SALES).score >= score(english, Blueprint.SALES).score + 30


def test_accents_dropped_by_speech_to_text_still_match():
    metrics = measure(call(("user", "Que tal, le llamo de Fibranet."),
                           ("assistant", "Mire, ahora no tengo tiempo, estoy trabajando."),
                           ("user", "Lo entiendo, perdone la molestia. Cuando le iria mejor?")), phrases=SPANISH)
    assert metrics.hesitations == 1 and metrics.hesitation_points == EXPLORED


@pytest.mark.parametrize("brush_off", ["No me interesa, gracias.", "Me lo tengo que pensar.",
                                       "Ya tenemos compañía y estamos contentos con ella.",
                                       "Es muy caro para nosotros."])
def test_brush_offs_and_objections_are_hesitations(brush_off):
    metrics = measure(call(("user", "Buenas, le llamo de Seguros Lince."), ("assistant", brush_off),
                           ("user", "Claro, gracias igualmente.")), phrases=SPANISH)
    assert metrics.hesitations == 1


def test_pressing_on_after_two_noes_is_pushing():
    metrics = measure(call(
        ("user", "Buenas tardes, le llamo para ofrecerle una tarifa nueva."),
        ("assistant", "No me interesa, gracias."),
        ("user", "Pero señor, si no sabe lo que le voy a ofrecer."),
        ("assistant", "Ya le he dicho que no, voy a colgar."),
        ("user", "Solo dos minutitos, que la oferta solo vale hasta hoy."),
    ), phrases=SPANISH)
    assert metrics.refusals == 2 and metrics.pushes >= 2 and metrics.hesitation_points == IGNORED
    assert score(metrics, Blueprint.SALES).score < 20


def test_a_no_taken_with_grace_closes_honestly():
    metrics = measure(call(
        ("user", "Hola, ¿tienes algún problema con tu compañía de internet?"),
        ("assistant", "No, ninguna queja, la verdad."),
        ("user", "Pues si con ellos no tienes ningún problema, no tiene sentido que cambies. Que vaya bien."),
    ), phrases=SPANISH)
    assert metrics.hesitation_points == EXPLORED and metrics.pushes == 0


def test_readings_of_a_spanish_call_add_up_to_the_whole_call():
    kept, previous_last = None, 0
    for up_to in (4, 6, len(DISCOVERY)):
        window = DISCOVERY[max(0, up_to - 4):up_to]
        kept = from_record(json.loads(json.dumps(to_record(advance(kept, previous_last, window, language="es")))))
        previous_last = up_to
    whole = measure(DISCOVERY, phrases=SPANISH)
    assert kept is not None
    assert (kept.candidate_questions, kept.topics_covered, kept.next_step_committed) == (
        whole.candidate_questions, whole.topics_covered, whole.next_step_committed)


def test_a_language_without_phrases_is_read_with_the_english_ones():
    assert phrases_for("es") is SPANISH
    assert phrases_for("de") is ENGLISH and phrases_for("") is ENGLISH
