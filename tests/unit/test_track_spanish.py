"""Each track's Spanish phrases (analysis_svc/domain/tracks/<track>_es.py): a few Spanish turns per factor are tallied
as their English counterparts are (the same kinds of move, the same turns counted for and against), and a call is
read with the phrases of its language, English's for a language with none. The turns are general moves written for
the purpose, in each language as it is spoken, not turns of any labelled conversation."""

from __future__ import annotations

import json

import pytest

from analysis_svc.adapters.local_engine import LocalEngine
from analysis_svc.domain.tracks import TRACK_RUBRICS, call_tally, track_rubric
from analysis_svc.domain.tracks.rubric import Tally
from analysis_svc.service_layer.ports import understands
from calls.job_tracks import Blueprint
from calls.turns import Role, Turn

ASKED = "Cuéntame."  # the persona's turn before the scored side's: no rubric counts it


def _turns(*said: str) -> list[Turn]:
    """The persona, then the scored side (role ``user``) saying each of ``said`` in turn."""
    turns = [Turn(1, Role.ASSISTANT, ASKED)]
    for text in said:
        turns += [Turn(len(turns) + 1, Role.USER, text), Turn(len(turns) + 2, Role.ASSISTANT, "Vale.")]
    return turns


# (track, factor, what the scored side says in English, the same moves said in Spanish)
COUNTERPARTS = [
    (Blueprint.SECURITY, "threat_understanding",
     ["The attackers got in with stolen credentials because we had no MFA on the VPN, and they moved laterally to "
      "the customer database."],
     ["Los atacantes entraron con credenciales robadas porque no teníamos doble factor en la VPN, y se movieron "
      "lateralmente hasta la base de datos de clientes."]),
    (Blueprint.SECURITY, "incident_handling",
     ["First we contained it by isolating the server, preserved the logs for forensics, then rotated the keys and "
      "restored from clean backups, and we notified the regulator."],
     ["Primero lo contuvimos aislando el servidor, conservamos los logs para el análisis forense, luego rotamos las "
      "claves y restauramos desde copias de seguridad limpias, y notificamos al regulador."]),
    (Blueprint.SECURITY, "remediation",
     ["Going forward we will enforce multi-factor everywhere, set up a patch management process with a clear owner, "
      "and verify it with a penetration test this quarter; that is the priority."],
     ["A partir de ahora vamos a exigir doble factor en todo, montar un proceso de gestión de parches con un "
      "responsable claro, y lo verificaremos con un pentest el próximo trimestre; esa es la prioridad."]),
    (Blueprint.SECURITY, "honesty",
     ["We made a mistake there, that's on us.", "We don't know yet how far they got; we are still investigating.",
      "An intern set the password, it was not our fault."],
     ["Nos equivocamos ahí, fue culpa nuestra.", "Todavía no sabemos hasta dónde llegaron; seguimos investigando.",
      "La contraseña la puso un becario, no fue culpa nuestra."]),
    (Blueprint.SECURITY, "communication",
     ["Do you mean the breach in March? The short answer is two things: first we lost keys, then we lost time.",
      "I'd rather not get into that, let me get back to you."],
     ["¿Te refieres a la brecha de marzo? La respuesta corta son dos cosas: primero perdimos claves, luego perdimos "
      "tiempo.", "Prefiero no entrar en eso, ya le contesto más tarde."]),
    (Blueprint.HR, "structure",
     ["Thanks for coming in, I'm the engineering manager. The role is on the payments team. We'll start with your "
      "background, and at the end you'll have time for questions.",
      "What questions do you have for me? You'll hear from us by Friday."],
     ["Gracias por venir, soy la responsable de ingeniería. El puesto es en el equipo de pagos. Empezaremos con tu "
      "trayectoria, y al final tendrás tiempo para preguntas.",
      "¿Qué preguntas tienes para mí? Te diremos algo antes del viernes."]),
    (Blueprint.HR, "legality",
     ["How old are you, and do you have kids?", "Are you married?"],
     ["¿Qué edad tienes? ¿Y tienes hijos?", "¿Estás casada?"]),
    (Blueprint.HR, "candidate_experience",
     ["Thank you, that's a great example. Take your time.", "Let's make this quick, I don't have all day."],
     ["Gracias, es un ejemplo muy bueno. Tómate tu tiempo.", "Vamos a ir rápido, que no tengo todo el día."]),
    (Blueprint.HR, "evidence",
     ["Tell me about a time you disagreed with your manager. What exactly did you do, and what was the outcome?",
      "Looking back, what would you do differently? How many people were on the team?"],
     ["Cuéntame una vez que no estuviste de acuerdo con tu jefe. ¿Qué hiciste exactamente, y cuál fue el resultado?",
      "Mirando atrás, ¿qué harías diferente? ¿Cuántas personas había en el equipo?"]),
    (Blueprint.HR, "fairness",
     ["Honestly, you won't last here.", "I ask every candidate the same questions."],
     ["Sinceramente, tú no vas a durar aquí.", "A todos los candidatos les hago las mismas preguntas."]),
    (Blueprint.AGENTIC_ENG, "evaluation",
     ["We built an eval set from real tickets, graded against a rubric, and we rerun the evals before every prompt "
      "change; we went from 62 to 81 percent.",
      "A human reviewer spot-checks a sample, and it still fails on edge cases."],
     ["Montamos un conjunto de evaluación con tickets reales, puntuados con una rúbrica, y volvemos a pasar las evals "
      "antes de cada cambio de prompt; pasamos de 62 a 81 por ciento.",
      "Un revisor humano revisa a mano una muestra, y todavía falla con casos límite."]),
    (Blueprint.AGENTIC_ENG, "tools_and_guardrails",
     ["The agent only has read-only access, every tool call is validated against a JSON schema, and a human "
      "approves any refund above the limit.", "It has full access, the model decides what to do."],
     ["El agente solo tiene acceso de solo lectura, cada llamada a herramienta se valida contra un esquema JSON, y "
      "una persona aprueba cualquier reembolso por encima del límite.",
      "Tiene acceso total, el modelo decide qué hacer."]),
    (Blueprint.AGENTIC_ENG, "failure_and_recovery",
     ["When the API times out we retry with backoff up to three times, the action is idempotent, and if it still "
      "fails we hand off to a human; every step is traced."],
     ["Cuando la API da timeout reintentamos con backoff hasta tres veces, la acción es idempotente, y si sigue "
      "fallando lo derivamos a una persona; cada paso queda trazado."]),
    (Blueprint.AGENTIC_ENG, "cost_and_latency",
     ["Each task costs about 4 cents and 3,000 tokens, we send easy ones to a smaller model, cache the retrieval, "
      "and cap it at ten steps."],
     ["Cada tarea cuesta unos 4 céntimos y 3.000 tokens, mandamos las fáciles a un modelo más pequeño, cacheamos la "
      "recuperación y lo limitamos a diez pasos."]),
    (Blueprint.AGENTIC_ENG, "communication",
     ["In our case the trade-off was latency; we haven't measured the cost yet.",
      "It's fully autonomous and never hallucinates."],
     ["En nuestro caso el precio que pagamos fue la latencia; todavía no lo hemos medido.",
      "Es totalmente autónomo y nunca alucina."]),
    (Blueprint.FULLSTACK, "system_design",
     ["Before I design anything, how many users do we expect? The browser sends the request to the API server, "
      "which writes to the database, and I'd put a CDN in front.",
      "At peak that's about 2,000 requests per second, and the page is server-side rendered with a loading "
      "skeleton."],
     ["Antes de diseñar nada, ¿cuántos usuarios esperamos? El navegador envía la petición al servidor de API, que "
      "escribe en la base de datos, y pondría una CDN delante.",
      "En el pico son unas 2.000 peticiones por segundo, y la página se renderiza del lado del servidor con un "
      "skeleton."]),
    (Blueprint.FULLSTACK, "api_and_data",
     ["The endpoint returns a cursor for pagination, the orders table has a foreign key to users with an index on "
      "the user, and the payment write runs in a transaction with an idempotency key."],
     ["El endpoint devuelve un cursor para la paginación, la tabla de pedidos tiene una clave foránea a usuarios con "
      "un índice en el usuario, y la escritura del pago va en una transacción con una clave de idempotencia."]),
    (Blueprint.FULLSTACK, "testing_and_debugging",
     ["I reproduced it from the logs, narrowed it down to a race in the cache, deployed the fix and added a "
      "regression test so it doesn't happen again.", "We just restarted it, it was probably the network."],
     ["Lo reproduje a partir de los logs, lo acoté a una carrera en la caché, desplegamos el arreglo y añadí un test "
      "de regresión para que no vuelva a pasar.", "Simplemente lo reiniciamos, seguramente sería la red."]),
    (Blueprint.FULLSTACK, "tradeoffs_and_adaptation",
     ["One option is Postgres, the alternative is a document store; the trade-off is consistency versus "
      "flexibility, and for this scale I'd go with Postgres.",
      "If the traffic doubles, that changes things: I'd split reads onto replicas.",
      "There is no downside to Postgres, always use it."],
     ["Una opción es Postgres, la alternativa es una base documental; es un compromiso entre consistencia y "
      "flexibilidad, y para este volumen me quedaría con Postgres.",
      "Si el tráfico se duplica, eso cambia las cosas: separaría las lecturas en réplicas.",
      "Postgres no tiene ninguna desventaja, siempre hay que usar Postgres."]),
    (Blueprint.FULLSTACK, "communication",
     ["Just to clarify, do you mean the mobile app? In my last job I built the checkout.",
      "Obviously, it doesn't really matter."],
     ["Solo para aclarar, ¿te refieres a la app móvil? En mi último trabajo construí el checkout.",
      "Obviamente, da igual."]),
    (Blueprint.MARKETING, "audience",
     ["Our target audience is first-time buyers aged 25 to 34; our survey shows they worry about hidden fees.",
      "Who are your best customers today?", "It's for everyone."],
     ["Nuestro público objetivo son compradores primerizos de 25 a 34 años; nuestra encuesta muestra que les "
      "preocupan las comisiones ocultas.", "¿Quiénes son vuestros mejores clientes hoy?",
      "Es para todo el mundo."]),
    (Blueprint.MARKETING, "big_idea",
     ["The big idea is No Small Print, because the insight is that they feel tricked; unlike competitors, the "
      "brand stands for plain talk. Picture a billboard with a blank contract.",
      "We just want it to go viral."],
     ["La gran idea es Sin Letra Pequeña, porque el insight es que se sienten engañados; a diferencia de la "
      "competencia, la marca representa hablar claro. Imaginad una valla con un contrato en blanco.",
      "Solo queremos que se haga viral."]),
    (Blueprint.MARKETING, "plan",
     ["We'd put 60 percent of the budget on TikTok and Instagram because that's where they spend time, launch in "
      "March in three phases, and we'll need your brand guidelines.", "We'll be everywhere."],
     ["Pondríamos el 60 por ciento del presupuesto en TikTok e Instagram porque es donde pasan el tiempo, lanzamos "
      "en marzo en tres fases, y necesitaremos vuestras guías de estilo.", "Vamos a estar en todas partes."]),
    (Blueprint.MARKETING, "measurement",
     ["The objective is trial signups: from a 2 percent baseline to 3 percent, measured with a holdout region, "
      "with a first read after two weeks; if it underperforms we'll shift budget to search.",
      "I guarantee it will work."],
     ["El objetivo son altas de prueba: de una línea base del 2 por ciento al 3 por ciento, medido con una región de "
      "control, con una primera lectura a las dos semanas; si no funciona, pasaríamos el presupuesto a búsqueda.",
      "Os garantizo que va a funcionar."]),
    (Blueprint.MARKETING, "handling",
     ["What are your objectives for this year? That's a fair point, we could cut the TV spend. I'll send you a "
      "revised plan by Friday.", "Trust me, that's not a problem."],
     ["¿Cuáles son vuestros objetivos para este año? Es un punto justo, podríamos recortar la inversión en tele. "
      "Os mando un plan revisado el viernes.", "Confía en mí, eso no es un problema."]),
    (Blueprint.IMPLEMENTATION, "structure",
     ["The purpose of this call is to agree the plan; here's the agenda. Does that work for you?",
      "To recap, Ana will send the data export by Friday, and our next call is Tuesday."],
     ["El objetivo de esta llamada es acordar el plan; esta es la agenda. ¿Os parece bien?",
      "Para resumir, Ana enviará la exportación de datos para el viernes, y la próxima llamada es el martes."]),
    (Blueprint.IMPLEMENTATION, "scope",
     ["Reporting is out of scope for phase one; success criteria are agreed in the design phase, go-live is in "
      "June, and it depends on your SSO being ready. Anything extra goes through a change request.",
      "Sure, we can add that at no extra cost."],
     ["Los informes quedan fuera del alcance de la fase uno; los criterios de éxito se acuerdan en la fase de "
      "diseño, el go-live es en junio, y depende de que vuestro SSO esté listo. Cualquier extra pasa por una "
      "solicitud de cambio.", "Claro, lo añadimos sin coste adicional."]),
    (Blueprint.IMPLEMENTATION, "governance",
     ["Who is the executive sponsor, and who decides on changes? I'd suggest a weekly status call, and we escalate "
      "blockers to the steering committee.", "Who will be the project manager?"],
     ["¿Quién es el sponsor ejecutivo, y quién decide los cambios? Propongo una llamada semanal de seguimiento, y "
      "escalamos los bloqueos al comité de dirección.", "¿Quién será el jefe de proyecto?"]),
    (Blueprint.IMPLEMENTATION, "risks",
     ["What worries you most? Data migration from spreadsheets, the ERP integration and training are the usual "
      "risks, so we'll add a buffer as mitigation.",
      "How many hours a week can your team give us? The year-end freeze is a hard deadline."],
     ["¿Qué os preocupa más? La migración de datos desde excels, la integración con el ERP y la formación son los "
      "riesgos habituales, así que meteremos un colchón como mitigación.",
      "¿Cuántas horas a la semana puede dedicar vuestro equipo? El cierre del año es una fecha límite."]),
    (Blueprint.IMPLEMENTATION, "candour",
     ["To be honest, we're behind on the integration; the options are to move the date or cut scope.",
      "Don't worry, everything is on track."],
     ["Para ser sincero, vamos con retraso en la integración; las opciones son mover la fecha o recortar alcance.",
      "No te preocupes, todo va en plazo."]),
]


@pytest.mark.parametrize(("track", "factor", "english", "spanish"), COUNTERPARTS,
                         ids=[f"{track}-{factor}" for track, factor, _, _ in COUNTERPARTS])
def test_spanish_turns_are_tallied_as_their_english_counterparts(track, factor, english, spanish):
    rubric = TRACK_RUBRICS[track]
    read_in_english, read_in_spanish = rubric.tally(_turns(*english)), rubric.tally(_turns(*spanish), "es")

    assert (read_in_spanish.kinds, read_in_spanish.counts) == (read_in_english.kinds, read_in_english.counts)
    assert rubric.scores(read_in_spanish)[factor] == rubric.scores(read_in_english)[factor]
    assert read_in_spanish.language == "es"


def test_every_factor_of_every_track_has_spanish_counterparts():
    covered = {(track, factor) for track, factor, _, _ in COUNTERPARTS}
    assert covered == {(track, name) for track, rubric in TRACK_RUBRICS.items() for name in rubric.names}


@pytest.mark.parametrize("track", list(TRACK_RUBRICS))
def test_the_spanish_phrases_read_nothing_said_in_english_and_the_english_ones_little_said_in_spanish(track):
    # The other language's phrases are not what a call is read with: what the call's language picks matters.
    rubric = TRACK_RUBRICS[track]
    english = [turn for _, _, said, _ in (c for c in COUNTERPARTS if c[0] == track) for turn in _turns(*said)]
    spanish = [turn for _, _, _, said in (c for c in COUNTERPARTS if c[0] == track) for turn in _turns(*said)]

    assert len(rubric.tally(spanish, "es").kinds) > 2 * len(rubric.tally(spanish, "en").kinds)
    assert len(rubric.tally(english, "en").kinds) > 2 * len(rubric.tally(english, "es").kinds)


@pytest.mark.parametrize("track", list(TRACK_RUBRICS))
def test_a_call_in_a_language_with_no_phrases_is_read_with_english_and_not_understood(track):
    rubric = TRACK_RUBRICS[track]
    turns = _turns("Nous avons isolé le serveur et prévenu le régulateur.")

    assert rubric.tally(turns, "fr") == rubric.tally(turns, "en")
    engine = LocalEngine()
    assert (understands(engine, "fr", track), understands(engine, "es", track), understands(engine, "en", track)) \
        == (False, True, True)


def test_the_languages_understood_on_a_track_are_those_of_its_phrases():
    engine = LocalEngine()
    for track, rubric in TRACK_RUBRICS.items():
        assert engine.languages_for(track) == rubric.languages == frozenset({"en", "es"})


# A kept tally is added to while the call is read with the same phrases: its own language's, or English's for a
# language with none.
@pytest.mark.parametrize(("texts", "kept_in", "read_in", "phrases_of"), [
    (("Lo contuvimos aislando el servidor.", "Luego rotamos las claves."), "es", "es", "es"),
    (("We isolated the server.", "Nous avons prévenu le régulateur."), "en", "fr", "en"),
])
def test_a_kept_tally_is_added_to_while_the_call_is_read_with_the_same_phrases(
        texts: tuple[str, str], kept_in: str, read_in: str, phrases_of: str):
    turns = _turns(*texts)
    rubric = track_rubric(Blueprint.SECURITY)
    assert rubric is not None
    kept = rubric.tally(turns[:3], kept_in)

    assert call_tally(Blueprint.SECURITY, kept, 3, turns[2:], read_in) == rubric.tally(turns, phrases_of)


def test_a_tally_kept_before_the_language_settled_is_tallied_again_in_the_calls_own_language():
    # Read with English's phrases while the call's language was undetermined (""), then found to be Spanish.
    turns = _turns("Primero lo contuvimos aislando el servidor.", "Conservamos los logs.", "Luego rotamos las claves.")
    rubric = track_rubric(Blueprint.SECURITY)
    assert rubric is not None
    kept = rubric.tally(turns[:3], "")
    assert kept.language == "en"

    # The window reaches back to the call's start: the whole call is read in Spanish, nothing of English's kept.
    whole = call_tally(Blueprint.SECURITY, kept, 3, turns, "es")
    assert whole == rubric.tally(turns, "es")
    assert {"response:contain", "response:evidence", "response:eradicate"} <= whole.kinds

    # A window that starts after the call's start: what was said before it is left out, not counted in English.
    later = call_tally(Blueprint.SECURITY, kept, 3, turns[3:], "es")
    assert later == rubric.tally(turns[3:], "es")
    assert "response:contain" not in later.kinds


def test_a_kept_tally_keeps_the_language_it_was_read_in_and_one_kept_before_it_did_was_read_in_english():
    rubric = TRACK_RUBRICS[Blueprint.HR]
    tally = rubric.tally(_turns("¿Qué edad tienes?", "Cuéntame una vez que fallaste."), "es")

    assert Tally.from_record(json.loads(json.dumps(tally.to_record()))) == tally
    assert Tally.from_record({"kinds": ["evidence:example"], "counts": {"turns": 1}}).language == "en"
