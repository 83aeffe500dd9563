"""Calls streamed through the public API: one in Spanish is understood and scored with the Spanish phrases, and its
suggestions are written in Spanish, on the sales track and on a track with its own rubric (security); one in a
language the local engine does not understand gets readings that say so, on either; an English one is understood."""

from __future__ import annotations

from sparring.analysis.v1 import analysis_service_pb2 as pb
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.transcript.v1 import transcript_service_pb2 as transcript_pb

from analysis_svc.domain.conversation import Topic
from analysis_svc.domain.interviewer_texts import SPANISH
from analysis_svc.domain.tracks import security
from calls.job_tracks import Blueprint
from tests.e2e.transcript_fixtures import streamed_call

USER, PERSONA = transcript_pb.ROLE_USER, transcript_pb.ROLE_ASSISTANT
SPANISH_CALL = [
    (USER, "Gracias por atenderme. ¿Qué les llevó a buscar una herramienta para organizar los turnos?"),
    (PERSONA, "Nuestras enfermeras pierden una hora al día cambiando turnos por mensajes de texto."),
    (USER, "Una hora al día es mucho. ¿Cuánto les ha costado eso en horas extra este trimestre?"),
    (PERSONA, "Unos doce mil euros, y la directora tiene que aprobar cualquier cambio."),
]
SPANISH_SECURITY_CALL = [
    (PERSONA, "Nos robaron las claves de firma del servidor de compilación. ¿Qué hicieron ustedes?"),
    (USER, "Primero contuvimos el incidente aislando el servidor y conservamos los logs para el análisis forense. "
           "Luego rotamos todas las claves y notificamos al regulador."),
    (PERSONA, "¿Y cómo entraron?"),
    (USER, "Todavía no lo sabemos del todo; seguimos investigando, pero todo apunta a credenciales robadas."),
]
GERMAN_CALL = [
    (USER, "Danke, dass Sie sich Zeit nehmen. Was hat Sie dazu gebracht, nach einem Dienstplan-Werkzeug zu suchen?"),
    (PERSONA, "Unsere Pflegekräfte verlieren jeden Tag eine Stunde damit, Schichten per Textnachricht zu tauschen."),
]
FRENCH_SECURITY_CALL = [
    (PERSONA, "On nous a volé les clés de signature du serveur de compilation. Qu'avez-vous fait ?"),
    (USER, "D'abord nous avons isolé le serveur et conservé les journaux, puis nous avons prévenu le régulateur."),
]
ENGLISH_CALL = [
    (USER, "Thanks for taking the call. What made you look at scheduling tools this spring?"),
    (PERSONA, "Our nurses lose an hour a day swapping shifts over text messages."),
]


async def _reading(transcripts, analyses, turns, blueprint: int = persona_pb.BLUEPRINT_SALES) -> pb.Analysis:
    session = await streamed_call(transcripts, turns, blueprint=blueprint)
    return (await analyses.RequestAnalysis(pb.RequestAnalysisRequest(session=session, trigger_id="seq-4"))).analysis


async def test_a_call_in_spanish_gets_readings_scored_with_the_spanish_phrases(transcripts, analyses, sarah):
    reading = await _reading(transcripts, analyses, SPANISH_CALL)
    assert (reading.language, reading.language_supported) == ("es", True)
    assert "does not understand" not in reading.say_meter.reasoning
    # The pain ("pierden una hora") and who decides ("la directora tiene que aprobar") are Spanish phrases.
    assert reading.metrics.pain_covered and reading.metrics.decision_process_covered
    again = (await analyses.GetAnalysis(pb.GetAnalysisRequest(name=reading.name))).analysis
    assert (again.language, again.language_supported) == ("es", True)


async def test_a_call_in_spanish_gets_its_suggestions_and_reasoning_in_spanish(transcripts, analyses, sarah):
    reading = await _reading(transcripts, analyses, SPANISH_CALL)

    open_topic = SPANISH.gaps["open_topic"].format(topic=SPANISH.topics[Topic.SUCCESS_CRITERIA])
    said = reading.say_meter.reasoning
    assert said == SPANISH.templates["no_strength"].format(gap=open_topic) or said in {
        SPANISH.templates["strength"].format(factor=name, gap=open_topic) for name in SPANISH.factor_names.values()}

    # The curveball depends on the persona's and the scenario's words (the catalogue loaded), the follow-up does not.
    curveball, followup = reading.suggestions
    assert curveball.text.endswith(SPANISH.templates["curveball"].format(text="", quote=SPANISH_CALL[2][1]).lstrip())
    assert curveball.label.startswith((SPANISH.templates["pain_label"].format(pain=""),
                                       SPANISH.templates["own_objection_label"].format(objection=""),
                                       *(label for label, _ in SPANISH.curveballs.values())))
    assert (followup.label, followup.text) == (
        SPANISH.templates["uncover_label"].format(topic=SPANISH.topics[Topic.SUCCESS_CRITERIA]),
        SPANISH.templates["uncover"].format(quote=SPANISH_CALL[3][1],
                                            question=SPANISH.commercial_questions[Topic.SUCCESS_CRITERIA]))


async def test_a_call_in_german_gets_readings_marked_as_not_understood(transcripts, analyses, sarah):
    reading = await _reading(transcripts, analyses, GERMAN_CALL)
    assert (reading.language, reading.language_supported) == ("de", False)
    assert "does not understand" in reading.say_meter.reasoning


async def test_a_call_in_english_is_understood(transcripts, analyses, sarah):
    reading = await _reading(transcripts, analyses, ENGLISH_CALL)
    assert (reading.language, reading.language_supported) == ("en", True)
    assert "does not understand" not in reading.say_meter.reasoning


async def test_a_call_in_spanish_on_a_track_with_its_own_rubric_is_understood_and_reasoned_about_in_spanish(
        transcripts, analyses, sarah):
    reading = await _reading(transcripts, analyses, SPANISH_SECURITY_CALL, blueprint=persona_pb.BLUEPRINT_SECURITY)

    assert (reading.language, reading.language_supported) == ("es", True)
    # Containing, preserving evidence, rotating the keys, telling the regulator: read with the Spanish phrases.
    factors = {factor.name: factor.score for factor in reading.say_meter.rubric_factors}
    assert factors[security.INCIDENT_HANDLING] == 100 and factors[security.HONESTY] > 50
    names = security.RUBRIC.names
    gaps = {SPANISH.gaps["keep_it_up"], *(SPANISH.track_gaps[Blueprint.SECURITY, name] for name in names)}
    assert reading.say_meter.reasoning in {
        *(SPANISH.templates["no_strength"].format(gap=gap) for gap in gaps),
        *(SPANISH.templates["strength"].format(factor=SPANISH.factor_names[name], gap=gap)
          for name in names for gap in gaps)}


async def test_a_call_in_french_on_a_track_with_its_own_rubric_is_still_marked_as_not_understood(
        transcripts, analyses, sarah):
    reading = await _reading(transcripts, analyses, FRENCH_SECURITY_CALL, blueprint=persona_pb.BLUEPRINT_SECURITY)
    assert (reading.language, reading.language_supported) == ("fr", False)
    assert "does not understand on the security track" in reading.say_meter.reasoning
