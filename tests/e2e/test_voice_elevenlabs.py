"""Voice rounds on ElevenLabs: the persona service's `elevenlabs` provider runs the real ``elevenlabs`` SDK against
a fake of its HTTP API on loopback (devtools/fake_elevenlabs.py), which counts every request. A second persona
server and a transcript server, over the same database, are configured for it (``voice_transcripts``); the suite's
own persona server has no ElevenLabs key."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc
import pytest
import sqlalchemy as sa
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.persona.v1 import voice_agent_service_pb2 as voice_pb

from tests.builders import field_mask
from tests.e2e.conftest import ELEVENLABS_TRIES as TRIES
from tests.e2e.transcript_checks import all_rows, rejected
from tests.e2e.transcript_fixtures import filled_live_controls, new_session, rounds_of, start_round
from tests.probes import metric

SCENARIO = "scenarios/q2-cost-reduction"
CREATE = ("POST", "create")
SIGN = ("GET", "signed_url")


def tries(operation: str, outcome: str) -> float:
    return metric("sparring_persona_voice_provider_requests_total", provider="elevenlabs", operation=operation,
                  outcome=outcome)


async def test_a_round_creates_the_agent_with_the_persona_prompt_and_voice_and_signs_a_conversation(
        voice_transcripts, voiced, elevenlabs):
    transcripts, voice_agents = voice_transcripts
    persona = await voiced(config=persona_pb.PersonaConfig(
        voice_enabled=True, voice_id="21m00Tcm4TlvDq8ikWAM", tts_model="eleven_flash_v2_5", language="fr",
        stability=0.4))
    creates = elevenlabs.count(*CREATE)

    voice_round = await start_round(transcripts, await new_session(transcripts, persona=persona, scenario=SCENARIO),
                                    provider="elevenlabs")

    assert voice_round.provider == "elevenlabs" and voice_round.provider_agent_id in elevenlabs.agents
    assert voice_round.signed_url.startswith("wss://") and voice_round.provider_agent_id in voice_round.signed_url
    assert elevenlabs.count(*CREATE) == creates + 1
    agent = (await voice_agents.GetVoiceAgent(voice_pb.GetVoiceAgentRequest(name=voice_round.voice_agent))).voice_agent
    sent = elevenlabs.agents[voice_round.provider_agent_id]["conversation_config"]
    assert sent["agent"] == {"first_message": agent.first_message, "language": "fr",
                             "prompt": {"prompt": agent.system_prompt}}
    assert filled_live_controls(agent, "a rival quote")["curveball"] == ("contextual_update", {
        "type": "contextual_update", "text": "Raise this now, unprompted, in your own words: a rival quote"})
    assert sent["tts"] == {"voice_id": "21m00Tcm4TlvDq8ikWAM", "model_id": "eleven_flash_v2_5", "stability": 0.4,
                           "similarity_boost": 0.75, "speed": 1.0}


async def test_an_unchanged_persona_reuses_its_agent_and_an_edited_one_gets_a_new_one(
        voice_transcripts, voiced, personas, elevenlabs):
    transcripts, _ = voice_transcripts
    persona = await voiced()

    async def start() -> object:
        return await start_round(transcripts, await new_session(transcripts, persona=persona, scenario=SCENARIO),
                                 provider="elevenlabs")

    first = await start()
    creates, signs = elevenlabs.count(*CREATE), elevenlabs.count(*SIGN)
    again = await start()
    assert (again.provider_agent_id, again.agent_reused) == (first.provider_agent_id, True)
    assert (elevenlabs.count(*CREATE), elevenlabs.count(*SIGN)) == (creates, signs + 1)

    await personas.UpdatePersona(persona_pb.UpdatePersonaRequest(
        persona=persona_pb.Persona(name=persona, config=persona_pb.PersonaConfig(voice_enabled=True, speed=0.9)),
        update_mask=field_mask("config")))
    edited = await start()

    assert edited.provider_agent_id != first.provider_agent_id and not edited.agent_reused
    assert elevenlabs.count(*CREATE) == creates + 1
    assert elevenlabs.agents[edited.provider_agent_id]["conversation_config"]["tts"]["speed"] == 0.9


async def test_fifty_concurrent_starts_of_one_key_create_one_agent_at_elevenlabs(voice_transcripts, voiced,
                                                                                elevenlabs):
    transcripts, _ = voice_transcripts
    persona = await voiced()
    sessions = [await new_session(transcripts, persona=persona, scenario=SCENARIO) for _ in range(50)]
    creates = elevenlabs.count(*CREATE)

    started = await asyncio.gather(*(start_round(transcripts, s, provider="elevenlabs") for s in sessions))

    assert elevenlabs.count(*CREATE) == creates + 1
    assert len({r.provider_agent_id for r in started}) == 1
    assert len({r.signed_url for r in started}) == 50, "each conversation is signed on its own"


async def test_a_missing_key_is_refused_naming_the_setting(transcripts, voiced, elevenlabs):
    session = await new_session(transcripts, persona=await voiced(), scenario=SCENARIO)
    requests = sum(elevenlabs.requests.values())

    rejection = await rejected(start_round(transcripts, session, provider="elevenlabs"),
                               grpc.StatusCode.FAILED_PRECONDITION)

    assert rejection.reason == "PROVIDER_NOT_CONFIGURED"
    assert dict(rejection.info.metadata) == {"provider": "elevenlabs", "setting": "PERSONA_ELEVENLABS_API_KEY"}
    assert sum(elevenlabs.requests.values()) == requests, "nothing reached the provider"
    assert await rounds_of(transcripts, session) == []


async def test_429_5xx_malformed_answers_and_timeouts_are_tried_again(voice_transcripts, voiced, elevenlabs):
    transcripts, _ = voice_transcripts
    session = await new_session(transcripts, persona=await voiced(), scenario=SCENARIO)
    elevenlabs.modes.extend((429, 503, "malformed", "held"))
    creates = elevenlabs.count(*CREATE)
    counted = {outcome: tries("create_agent", outcome)
               for outcome in ("rate_limited", "server_error", "bad_response", "timeout", "ok")}

    voice_round = await start_round(transcripts, session, provider="elevenlabs")

    elevenlabs.release.set()
    assert voice_round.provider_agent_id in elevenlabs.agents
    assert elevenlabs.count(*CREATE) == creates + 5
    assert {outcome: tries("create_agent", outcome) - before for outcome, before in counted.items()} == {
        "rate_limited": 1, "server_error": 1, "bad_response": 1, "timeout": 1, "ok": 1}


async def test_a_provider_failing_every_try_is_unavailable_naming_it_and_nothing_is_stored(
        voice_transcripts, voiced, elevenlabs):
    transcripts, _ = voice_transcripts
    session = await new_session(transcripts, persona=await voiced(), scenario=SCENARIO)
    elevenlabs.modes.extend([500] * TRIES)
    creates = elevenlabs.count(*CREATE)

    rejection = await rejected(start_round(transcripts, session, provider="elevenlabs"), grpc.StatusCode.UNAVAILABLE)

    assert rejection.reason == "VOICE_PROVIDER_UNAVAILABLE"
    assert dict(rejection.info.metadata) == {"provider": "elevenlabs", "operation": "create_agent",
                                             "outcome": "server_error"}
    assert elevenlabs.count(*CREATE) == creates + TRIES
    assert await rounds_of(transcripts, session) == []


async def test_a_retry_after_beyond_the_budget_is_not_waited_for(voice_transcripts, voiced, elevenlabs):
    transcripts, _ = voice_transcripts
    session = await new_session(transcripts, persona=await voiced(), scenario=SCENARIO)
    elevenlabs.retry_after_seconds = 3600
    elevenlabs.modes.append(429)
    creates = elevenlabs.count(*CREATE)

    rejection = await rejected(start_round(transcripts, session, provider="elevenlabs"), grpc.StatusCode.UNAVAILABLE)

    assert (rejection.reason, rejection.info.metadata["outcome"]) == ("VOICE_PROVIDER_UNAVAILABLE", "rate_limited")
    assert elevenlabs.count(*CREATE) == creates + 1


async def test_a_refused_key_is_a_failed_precondition_naming_the_setting(voice_transcripts, voiced, elevenlabs):
    transcripts, _ = voice_transcripts
    session = await new_session(transcripts, persona=await voiced(), scenario=SCENARIO)
    elevenlabs.key = "rotated"

    rejection = await rejected(start_round(transcripts, session, provider="elevenlabs"),
                               grpc.StatusCode.FAILED_PRECONDITION)

    assert (rejection.reason, rejection.info.metadata["setting"]) == ("PROVIDER_KEY_REFUSED",
                                                                      "PERSONA_ELEVENLABS_API_KEY")
    assert await rounds_of(transcripts, session) == []


async def test_an_agent_deleted_at_elevenlabs_is_made_again_at_the_next_start(voice_transcripts, voiced, elevenlabs):
    transcripts, _ = voice_transcripts
    persona = await voiced()
    lost = await start_round(transcripts, await new_session(transcripts, persona=persona, scenario=SCENARIO),
                             provider="elevenlabs")
    del elevenlabs.agents[lost.provider_agent_id]  # deleted in ElevenLabs' dashboard, say
    counted = metric("sparring_persona_voice_agents_lost_total", provider="elevenlabs")

    again = await start_round(transcripts, await new_session(transcripts, persona=persona, scenario=SCENARIO),
                              provider="elevenlabs")

    assert again.provider_agent_id in elevenlabs.agents and again.provider_agent_id != lost.provider_agent_id
    assert again.voice_agent != lost.voice_agent and again.signed_url
    assert metric("sparring_persona_voice_agents_lost_total", provider="elevenlabs") == counted + 1


@contextlib.asynccontextmanager
async def agent_rows_refused(engine, persona: str) -> AsyncIterator[None]:
    """For the block, the database refuses to store a voice agent of ``persona``, as a full disk would."""
    persona_id = persona.removeprefix("personas/")
    name = f"refuse_agents_{persona_id.replace('-', '_')}"
    async with engine.begin() as c:
        await c.execute(sa.text(f"CREATE FUNCTION persona.{name}() RETURNS trigger LANGUAGE plpgsql AS "
                                "$$ BEGIN RAISE EXCEPTION 'disk full' USING ERRCODE = 'disk_full'; END $$"))
        await c.execute(sa.text(f"CREATE TRIGGER {name} BEFORE INSERT ON persona.voice_agents FOR EACH ROW "
                                f"WHEN (NEW.persona_id = '{persona_id}') EXECUTE FUNCTION persona.{name}()"))
    try:
        yield
    finally:
        async with engine.begin() as c:
            await c.execute(sa.text(f"DROP TRIGGER {name} ON persona.voice_agents"))
            await c.execute(sa.text(f"DROP FUNCTION persona.{name}()"))


def unrecorded(outcome: str) -> float:
    return metric("sparring_persona_voice_agents_unrecorded_total", provider="elevenlabs", outcome=outcome)


@pytest.mark.parametrize(("delete_answers", "outcome"), [((), "deleted"), ((500,) * TRIES, "queued")])
async def test_an_agent_whose_row_cannot_be_stored_is_deleted_at_elevenlabs_or_queued_for_deletion(
        voice_transcripts, voiced, elevenlabs, engine, delete_answers, outcome):
    transcripts, _ = voice_transcripts
    persona = await voiced()
    session = await new_session(transcripts, persona=persona, scenario=SCENARIO)
    elevenlabs.modes.extend(("normal", *delete_answers))  # the create, then the deletion's tries
    creates, counted = elevenlabs.count(*CREATE), unrecorded(outcome)

    async with agent_rows_refused(engine, persona):
        rejection = await rejected(start_round(transcripts, session, provider="elevenlabs"),
                                   grpc.StatusCode.UNAVAILABLE)

    assert rejection.reason == "DATABASE_UNAVAILABLE"
    assert elevenlabs.count(*CREATE) == creates + 1 and unrecorded(outcome) == counted + 1
    made = [agent_id for agent_id, body in elevenlabs.agents.items() if persona.removeprefix("personas/") in
            body["name"]]
    queued = await all_rows(engine, "SELECT provider_agent_id, state FROM persona.voice_agent_deletions "
                                    "WHERE provider_agent_id = ANY(:made)", made=made)
    assert (made, queued) == (([], []) if outcome == "deleted" else (made, [(made[0], "pending")]))
    assert await rounds_of(transcripts, session) == []

