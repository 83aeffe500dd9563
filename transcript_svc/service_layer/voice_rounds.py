"""Use cases of voice rounds: starting one (the persona's voice agent, asked of the persona service), reading,
listing and ending them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from svckit.errors import Aborted, FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from svckit.identity import Principal
from svckit.pagination import PageTokens, page_size
from svckit.usecase import Mutation, Page, run_idempotent
from transcript_svc.domain.model import SessionState
from transcript_svc.domain.voice_rounds import AgentGrant, RoundEndReason, VoiceRound
from transcript_svc.service_layer.ports import TranscriptUnitOfWork, VoiceAgents
from transcript_svc.service_layer.transcripts import check_may_end, check_may_read, session_ended, session_not_found

MAX_PROVIDER_CHARS = 100


def _round_not_found(session_id: str, round_number: int) -> NotFound:
    return NotFound(f"sessions/{session_id}/voiceRounds/{round_number}", reason="VOICE_ROUND_NOT_FOUND")


def _round_live(live: VoiceRound) -> FailedPrecondition:
    return FailedPrecondition(f"{live.resource_name} is still live; end it before starting another",
                              reason="ROUND_LIVE", metadata={"resource": live.resource_name})


async def open_round(uow: TranscriptUnitOfWork, organization: str, session_id: str, persona: str, agent: AgentGrant,
                     handoff: str) -> VoiceRound:
    """Stores the session's next round, on ``agent`` of ``persona``; the session's row is locked by the caller."""
    opened = VoiceRound(
        session_id=session_id, round_number=await uow.voice_rounds.last_number(organization, session_id) + 1,
        provider=agent.provider, voice_agent=agent.voice_agent, provider_agent_id=agent.provider_agent_id,
        signed_url=agent.signed_url, access_token=agent.access_token, agent_reused=agent.reused,
        start_time=datetime.now(UTC), persona=persona, handoff=handoff)
    await uow.voice_rounds.add(organization, opened)
    return opened


class VoiceRounds:
    def __init__(self, uow: Callable[[], TranscriptUnitOfWork], read: Callable[[], TranscriptUnitOfWork],
                 page_tokens: PageTokens, voice_agents: VoiceAgents) -> None:
        self._uow = uow
        self._read = read
        self._tokens = page_tokens
        self._voice_agents = voice_agents

    async def start(self, session_id: str, provider: str, mutation: Mutation) -> VoiceRound:
        """The session's next round with the persona's voice agent. Idempotent on the request id; every refusal
        (the session ended, a round live, the persona service's own) leaves the provider and the store as they
        were."""
        if len(provider) > MAX_PROVIDER_CHARS or "\x00" in provider:
            raise InvalidArgument(FieldViolation("provider", f"must be a provider name of at most "
                                                             f"{MAX_PROVIDER_CHARS} characters"),
                                  reason="UNKNOWN_PROVIDER")
        caller = mutation.caller.principal
        organization = caller.organization
        async with self._read() as uow:
            session = await uow.sessions.get(organization, session_id)
            if session is None:
                raise session_not_found(session_id)
            check_may_end(session, caller, "start a voice round of")
            live = await uow.voice_rounds.live(organization, session_id)
        # Asked outside any transaction, so no connection waits on the persona service or the provider. A start
        # that will be refused (or is a retry answered from the request log) asks for no agent at all.
        grant = None
        if session.state is SessionState.ACTIVE and live is None:
            grant = await self._voice_agents.provision(session.resource_name, session.playing_persona,
                                                       session.scenario, provider)

        async def run() -> VoiceRound:
            current = await uow.sessions.get(organization, session_id, for_update=True)
            if current is None:
                raise session_not_found(session_id)
            if current.state is SessionState.ENDED:
                raise session_ended(current.resource_name)
            now_live = await uow.voice_rounds.live(organization, session_id)
            if now_live is not None:
                raise _round_live(now_live)
            if grant is None or current.playing_persona != session.playing_persona:
                # a round ended, or a handoff came, between the read and this transaction
                raise Aborted(f"the voice rounds or the persona of {current.resource_name} changed while this "
                              "start was prepared; retry", reason="ROUNDS_CHANGED",
                              metadata={"resource": current.resource_name})
            return await open_round(uow, organization, session_id, current.playing_persona, grant, "")

        async with self._uow() as uow:
            started = await run_idempotent(uow.requests(organization), mutation, "StartVoiceRound", run, VoiceRound)
            await uow.commit()
        return started

    async def get(self, caller: Principal, session_id: str, round_number: int) -> VoiceRound:
        async with self._read() as uow:
            await self._readable_session(uow, caller, session_id)
            voice_round = await uow.voice_rounds.get(caller.organization, session_id, round_number)
        if voice_round is None:
            raise _round_not_found(session_id, round_number)
        return voice_round

    async def list(self, caller: Principal, session_id: str, requested_size: int, token: str) -> Page[VoiceRound]:
        size = page_size(requested_size)
        filters = {"session": session_id}
        after = self._tokens.decode(token, filters) or 0
        async with self._read() as uow:
            await self._readable_session(uow, caller, session_id)
            items = await uow.voice_rounds.list(caller.organization, session_id, after, size + 1)
        return Page(*self._tokens.page(items, size, lambda r: r.round_number, filters))

    async def end(self, session_id: str, round_number: int, mutation: Mutation) -> VoiceRound:
        caller = mutation.caller.principal
        organization = caller.organization

        async def run() -> VoiceRound:
            session = await uow.sessions.get(organization, session_id, for_update=True)
            if session is None:
                raise session_not_found(session_id)
            check_may_end(session, caller, "end a voice round of")
            voice_round = await uow.voice_rounds.get(organization, session_id, round_number)
            if voice_round is None:
                raise _round_not_found(session_id, round_number)
            if not voice_round.live:
                return voice_round
            return await uow.voice_rounds.end_live(organization, session_id, datetime.now(UTC),
                                                   RoundEndReason.ENDED) or voice_round

        async with self._uow() as uow:
            ended = await run_idempotent(uow.requests(organization), mutation, "EndVoiceRound", run, VoiceRound)
            await uow.commit()
        return ended

    @staticmethod
    async def _readable_session(uow: TranscriptUnitOfWork, caller: Principal, session_id: str) -> None:
        session = await uow.sessions.get(caller.organization, session_id)
        if session is None:
            raise session_not_found(session_id)
        check_may_read(session, caller)
