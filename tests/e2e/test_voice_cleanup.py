"""Clean-up of voice agents on real parts: the persona service's sweep over the test database, asking the real
transcript server (with the persona service's own identity) whether sessions have ended, and deleting at
ElevenLabs through the SDK against the fake that counts every request. The tests run one sweep at a time (the
background loop only repeats it); each sweep first flushes what earlier tests left, so a test sees its own."""

from __future__ import annotations

from datetime import timedelta

import pytest_asyncio
from sparring.transcript.v1 import transcript_service_pb2 as pb

from persona_svc.adapters.elevenlabs_provider import ElevenLabsProvider
from persona_svc.adapters.provider_calls import ProviderCalls
from persona_svc.adapters.retell_provider import RetellProvider
from persona_svc.adapters.session_states import TranscriptSessionStates
from persona_svc.adapters.voice_agent_store import AdvisorySweepLock, SqlCleanupStore
from persona_svc.adapters.voice_providers import LocalVoiceProvider
from persona_svc.service_layer.voice_cleanup import VoiceAgentCleanup
from tests.e2e.conftest import ELEVENLABS_TRIES
from tests.e2e.test_handoff import started
from tests.e2e.transcript_checks import all_rows, scalar
from tests.e2e.transcript_fixtures import new_session, start_round
from tests.probes import metric
from tests.security import service_link

SCENARIO = "scenarios/q2-cost-reduction"


@pytest_asyncio.fixture
async def cleanup_of(engine, transcript_server, fake_elevenlabs, fake_retell):
    """``cleanup_of(grace)``: the persona service's clean-up, as app.py assembles it, with ``grace``."""
    sessions = TranscriptSessionStates(service_link(transcript_server, "persona"), 2.0)
    elevenlabs = ElevenLabsProvider(fake_elevenlabs.key, fake_elevenlabs.base_url, ProviderCalls(
        "elevenlabs", "PERSONA_ELEVENLABS_API_KEY", 0.5, ELEVENLABS_TRIES - 1, 5.0))
    retell = RetellProvider(fake_retell.key, fake_retell.base_url, ProviderCalls(
        "retell", "PERSONA_RETELL_API_KEY", 0.5, ELEVENLABS_TRIES - 1, 5.0))
    providers = {"local": LocalVoiceProvider(), "elevenlabs": elevenlabs, "retell": retell}

    def make(grace: timedelta = timedelta(0), **settings) -> VoiceAgentCleanup:
        return VoiceAgentCleanup(SqlCleanupStore(engine), sessions, providers, AdvisorySweepLock(engine), grace,
                                 retry_delay=timedelta(0), **settings)

    yield make
    await elevenlabs.close()
    await retell.close()
    await sessions.close()


def cleanups(outcome: str) -> float:
    return metric("sparring_persona_voice_agent_cleanups_total", provider="elevenlabs", outcome=outcome)


async def started_on(transcripts, persona: str,
                                provider: str = "elevenlabs") -> tuple[pb.Session, pb.VoiceRound]:
    session = await new_session(transcripts, persona=persona, scenario=SCENARIO)
    return session, await start_round(transcripts, session, provider=provider)


async def test_an_agent_is_deleted_once_every_session_using_it_has_ended_and_not_before(
        voice_transcripts, voiced, elevenlabs, cleanup_of):
    transcripts, _ = voice_transcripts
    cleanup = cleanup_of()
    persona = await voiced()
    first, voice_round = await started_on(transcripts, persona)
    second, shared = await started_on(transcripts, persona)
    agent = voice_round.provider_agent_id
    assert shared.provider_agent_id == agent
    await cleanup.sweep()
    deleted = cleanups("deleted")

    await transcripts.EndSession(pb.EndSessionRequest(name=first.name))
    await cleanup.sweep()
    assert agent in elevenlabs.agents, "the second session still uses it"

    await transcripts.EndSession(pb.EndSessionRequest(name=second.name))
    result = await cleanup.sweep()
    assert agent not in elevenlabs.agents
    assert result is not None and result.deleted >= 1 and cleanups("deleted") == deleted + 1

    _, after = await started_on(transcripts, persona)
    assert after.provider_agent_id != agent and not after.agent_reused, "the next start makes a new agent"


async def test_a_handoff_keeps_both_agents_of_the_call_until_the_session_ends(
        voice_transcripts, voice_handoffs, voiced, elevenlabs, cleanup_of):
    transcripts, _ = voice_transcripts
    cleanup = cleanup_of()
    session, first = await started_on(transcripts, await voiced())
    handoff = await started(voice_handoffs, session.name, await voiced())
    agents = {first.provider_agent_id, handoff.voice_agent.provider_agent_id}

    await cleanup.sweep()
    assert len(agents) == 2 and agents <= set(elevenlabs.agents), "the session is live: neither agent goes"

    await transcripts.EndSession(pb.EndSessionRequest(name=session.name))
    await cleanup.sweep()
    assert not agents & set(elevenlabs.agents), "the ended round's agent and the handoff's are both deleted"


async def test_an_agent_is_kept_through_the_grace_period(voice_transcripts, voiced, elevenlabs, cleanup_of):
    transcripts, _ = voice_transcripts
    session, voice_round = await started_on(transcripts, await voiced())
    await transcripts.EndSession(pb.EndSessionRequest(name=session.name))

    await cleanup_of(grace=timedelta(hours=1)).sweep()

    assert voice_round.provider_agent_id in elevenlabs.agents


async def test_an_agent_the_provider_already_lost_is_not_an_error(voice_transcripts, voiced, elevenlabs, cleanup_of,
                                                                  engine):
    transcripts, _ = voice_transcripts
    cleanup = cleanup_of()
    session, voice_round = await started_on(transcripts, await voiced())
    await cleanup.sweep()
    await transcripts.EndSession(pb.EndSessionRequest(name=session.name))
    del elevenlabs.agents[voice_round.provider_agent_id]
    gone = cleanups("already_gone")

    result = await cleanup.sweep()

    assert result is not None and (result.already_gone, result.retried, result.given_up) == (1, 0, 0)
    assert cleanups("already_gone") == gone + 1
    assert await scalar(engine, "SELECT state FROM persona.voice_agent_deletions WHERE provider_agent_id = :id",
                        id=voice_round.provider_agent_id) == "done"


async def test_a_deletion_that_fails_is_tried_again_at_a_later_sweep(voice_transcripts, voiced, elevenlabs,
                                                                      cleanup_of):
    transcripts, _ = voice_transcripts
    cleanup = cleanup_of()
    session, voice_round = await started_on(transcripts, await voiced())
    await cleanup.sweep()
    await transcripts.EndSession(pb.EndSessionRequest(name=session.name))
    elevenlabs.modes.extend([500] * ELEVENLABS_TRIES)
    retried = cleanups("retried")

    failed = await cleanup.sweep()
    assert voice_round.provider_agent_id in elevenlabs.agents
    assert failed is not None and failed.retried == 1 and cleanups("retried") == retried + 1

    again = await cleanup.sweep()
    assert voice_round.provider_agent_id not in elevenlabs.agents
    assert again is not None and again.deleted == 1


async def test_deletions_done_long_enough_ago_are_removed_and_those_given_up_stay(
        voice_transcripts, voiced, elevenlabs, cleanup_of, engine):
    transcripts, _ = voice_transcripts
    (done_session, done), (failed_session, failed) = [await started_on(transcripts, await voiced()) for _ in range(2)]
    await cleanup_of().sweep()
    await transcripts.EndSession(pb.EndSessionRequest(name=done_session.name))
    await cleanup_of().sweep()
    await transcripts.EndSession(pb.EndSessionRequest(name=failed_session.name))
    elevenlabs.modes.extend([500] * ELEVENLABS_TRIES)
    await cleanup_of(max_attempts=1).sweep()

    async def states() -> list[tuple]:
        return await all_rows(engine, "SELECT provider_agent_id, state FROM persona.voice_agent_deletions WHERE "
                                      "provider_agent_id IN (:done, :failed) ORDER BY id",
                              done=done.provider_agent_id, failed=failed.provider_agent_id)

    assert await states() == [(done.provider_agent_id, "done"), (failed.provider_agent_id, "failed")]
    pruned = metric("sparring_persona_voice_agent_deletions_pruned_total")

    result = await cleanup_of(keep_done=timedelta(0)).sweep()

    assert await states() == [(failed.provider_agent_id, "failed")]
    assert result is not None and result.pruned >= 1
    assert metric("sparring_persona_voice_agent_deletions_pruned_total") == pruned + result.pruned


async def test_a_retell_agent_is_deleted_with_its_llm(voice_transcripts, voiced, fake_retell, cleanup_of):
    transcripts, _ = voice_transcripts
    cleanup = cleanup_of()
    session, voice_round = await started_on(transcripts, await voiced(), provider="retell")
    llm = fake_retell.agents[voice_round.provider_agent_id]["response_engine"]["llm_id"]
    await cleanup.sweep()
    await transcripts.EndSession(pb.EndSessionRequest(name=session.name))

    result = await cleanup.sweep()

    assert result is not None and result.deleted == 1
    assert voice_round.provider_agent_id not in fake_retell.agents and llm not in fake_retell.llms


async def test_one_replica_sweeps_at_a_time(engine, cleanup_of):
    skipped = metric("sparring_persona_voice_agent_sweeps_total", result="skipped")

    async with AdvisorySweepLock(engine).held() as held_by_another_replica:
        assert held_by_another_replica
        assert await cleanup_of().sweep() is None

    assert metric("sparring_persona_voice_agent_sweeps_total", result="skipped") == skipped + 1
