"""The language a call is held in, from what both sides said."""

from __future__ import annotations

from analysis_svc.domain.language import UNDETERMINED, language_of
from calls.turns import Role, Turn


def test_the_language_of_a_call_is_what_both_sides_speak():
    english = [Turn(1, Role.USER, "Thanks for taking the call. What made you look at scheduling tools this spring?"),
               Turn(2, Role.ASSISTANT, "Our nurses lose an hour a day swapping shifts over text messages.")]
    spanish = [Turn(1, Role.USER, "Gracias por atenderme. ¿Qué les llevó a buscar una herramienta de turnos?"),
               Turn(2, Role.ASSISTANT, "Nuestras enfermeras pierden una hora al día cambiando turnos por mensajes.")]
    assert language_of(english) == "en"
    assert language_of(spanish) == "es"


def test_a_greeting_says_too_little_to_tell():
    assert language_of([Turn(1, Role.USER, "Hola, hi")]) == UNDETERMINED
