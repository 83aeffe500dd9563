"""Use cases of handoffs: a live call handed from one persona to another, with the packet the new one needs."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Histogram

from guardrails.actions import RATE_WINDOW
from svckit.errors import (
    Aborted,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Unavailable,
    Violations,
)
from svckit.identity import Principal
from svckit.metrics import Phases
from svckit.names import check_resource_id
from svckit.usecase import Mutation, run_idempotent
from transcript_svc.domain.approvals import Approval
from transcript_svc.domain.handoff import (
    HANDOFF_KIND,
    SUMMARY_TURNS,
    Handoff,
    HandoffRequest,
    HandoffState,
    HandoffVoice,
    PendingAction,
    PendingActionKind,
    check_handoff_request,
    fold_into_prompt,
    handoff_first_message,
    summarize,
)
from transcript_svc.domain.model import Command, CommandSource, CommandState, CommandType, Session, SessionState
from transcript_svc.domain.voice_rounds import RoundEndReason, VoiceRound
from transcript_svc.service_layer.ports import (
    CallAtHandoff,
    HandoffPersonas,
    RecalledMemory,
    RenderedPrompt,
    TranscriptUnitOfWork,
    VoiceAgents,
)
from transcript_svc.service_layer.transcripts import (
    PreflightRefused,
    Transcripts,
    check_may_command,
    check_may_read,
    session_ended,
    session_not_found,
)
from transcript_svc.service_layer.voice_rounds import open_round

HANDOFFS_STARTED = Counter("sparring_handoffs_started_total", "Handoffs started, by whether a fallback took the call",
                           ["target"])
HANDOFF_MEMORY_FALLBACKS = Counter(
    "sparring_handoff_memory_fallbacks_total",
    "Handoffs packed without the outgoing persona's memory, because the persona service did not give it")
HANDOFF_VOICE_AGENTS = Counter(
    "sparring_handoff_voice_agents_total",
    "New personas' voice agents asked for by handoffs during a live voice round: reused, created, or failed (the "
    "handoff failed)", ["outcome"])
HANDOFF_PHASE_SECONDS = Histogram(
    "sparring_handoff_phase_seconds",
    "Time of each phase of starting a handoff: reading the call, the persona service (and voice agent), opening the "
    "transaction and locking the session, then waiting for the persona service, the statements under the lock, the "
    "commit, the command handed to a live stream held by this replica", ["phase"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5))
_LABEL_CHARS = 100
_NO_MEMORY = RecalledMemory({}, (), ())


def _now() -> datetime:
    return datetime.now(UTC)


def _round_number(voice_round: VoiceRound | None) -> int:
    return voice_round.round_number if voice_round is not None else 0


async def _discarded(work: asyncio.Future[Any]) -> None:
    """Cancels work no longer wanted (a rendering, a packing); whatever it ended with is of no use."""
    work.cancel()
    await asyncio.gather(work, return_exceptions=True)


class _NoVoiceAgent(Exception):
    """A handoff that found no voice agent: stored ``handoff`` (FAILED) alone, and ``error`` raised."""

    def __init__(self, handoff: Handoff, error: DomainError) -> None:
        super().__init__(error.message)
        self.handoff = handoff
        self.error = error


def _check_may_hand_over(session: Session, to_persona: str, pending: str | None) -> None:
    """What the session's state must allow; raised again under the session's lock before anything is stored."""
    if session.state is SessionState.ENDED:
        raise session_ended(session.resource_name)
    if to_persona == session.playing_persona:
        raise InvalidArgument(FieldViolation("handoff.to_persona", f"{to_persona} already plays "
                                             f"{session.resource_name}; hand over to another persona"),
                              reason="HANDOFF_TO_SAME_PERSONA")
    if pending is not None:
        handoff = f"{session.resource_name}/handoffs/{pending}"
        raise FailedPrecondition(f"{handoff} is still pending (waiting for the gateway or for its approval); start "
                                 "another once it is accepted or has failed",
                                 reason="HANDOFF_PENDING", metadata={"field": "parent", "handoff": handoff})


async def _take_over(uow: TranscriptUnitOfWork, organization: str, session: Session, handoff: Handoff,
                     when: datetime) -> None:
    """The new persona takes the call: its voice round opens if the handoff moves a voice call, the session's
    persona changes, and the call's watchers get a reading. The session's row is locked by the caller."""
    if handoff.voice is not None:  # the live round's call moves to the new agent, in the next round
        await uow.voice_rounds.end_live(organization, session.id, when, RoundEndReason.HANDOFF)
        await open_round(uow, organization, session.id, handoff.accepted_persona, handoff.voice.grant,
                         handoff.resource_name)
    await uow.sessions.hand_over(dataclasses.replace(
        session, current_persona=handoff.accepted_persona, revision=session.revision + 1, update_time=when))
    if session.last_sequence:  # the watchers get a reading as the new persona takes over
        await uow.outbox.enqueue(organization, session.id, HANDOFF_KIND, session.last_sequence)
        await uow.announce.outbox_due()


async def release_approved(uow: TranscriptUnitOfWork, organization: str, session: Session, approval: Approval,
                           when: datetime) -> bool:
    """Whether the command of ``approval``, just approved, goes to the call. A handoff it held goes on as an allowed
    one does, with the packet prepared before the hold: the prompt and first message rendered then, which is what
    was approved, and the voice agent provisioned then. If the live voice round it was prepared on ended meanwhile,
    the call has no voice to move and the persona changes alone; if another round opened meanwhile, on an agent the
    handoff was not prepared for, the handoff fails saying so. The caller holds the session's row locked and sends
    the command."""
    handoff = (await uow.handoffs.held_by(organization, session.id, approval.id)
               if approval.action is CommandType.HANDOFF else None)
    if handoff is None:
        return True  # a command held alone: it goes as it is
    _, live_round = await uow.handoffs.pending_and_live_round(organization, session.id)
    prepared_on = handoff.voice.round_number - 1 if handoff.voice is not None else 0
    if live_round not in (prepared_on, 0):
        await uow.handoffs.settle(organization, dataclasses.replace(
            handoff, state=HandoffState.FAILED, update_time=when,
            failure_reason=f"voice round {live_round} opened while it awaited its approval; start it again"))
        return False
    released = dataclasses.replace(handoff, state=HandoffState.PENDING, update_time=when,
                                   voice=handoff.voice if live_round else None)
    await uow.handoffs.settle(organization, released)
    await _take_over(uow, organization, session, released, when)
    return True


class Handoffs:
    def __init__(self, uow: Callable[[], TranscriptUnitOfWork], read: Callable[[], TranscriptUnitOfWork],
                 personas: HandoffPersonas, voice_agents: VoiceAgents, *, commands: Transcripts) -> None:
        """``commands``: whose pre-flight check a handoff's command passes, like every command."""
        self.uow = uow
        self.read = read
        self._personas = personas
        self._voice_agents = voice_agents
        self._commands = commands

    async def start_handoff(self, session_id: str, request: HandoffRequest, handoff_id: str,
                            mutation: Mutation) -> Handoff:
        violations = Violations()
        if handoff_id:
            check_resource_id(violations, "handoff_id", handoff_id)
        check_handoff_request(request, violations)
        violations.raise_if_any()
        organization = mutation.caller.organization
        with HANDOFF_PHASE_SECONDS.labels("read").time():
            async with self.read() as uow:
                call = await uow.handoffs.call_at_handoff(organization, session_id, SUMMARY_TURNS)
        if call is None:
            raise session_not_found(session_id)
        session, live = call.session, call.live
        check_may_command(session, mutation.caller.principal)
        now, handoff_id, command_id = _now(), handoff_id or str(uuid.uuid4()), str(uuid.uuid4())
        packing: asyncio.Future[Handoff] | None = None
        try:
            _check_may_hand_over(session, request.to_persona, call.pending)
        except DomainError:
            if not mutation.request_id:
                raise
            # Perhaps a retry of a handoff that was started: its first answer is in the request log.
        else:
            # The persona service is asked while the transaction opens and locks the session, not before: the handoff
            # waits for the longer of the two, not for both. The lock is held meanwhile, bounded by the persona
            # client's deadline; but not while a voice agent is provisioned, which may take seconds of a live call
            # whose utterances wait on the lock to be stored.
            packing = asyncio.ensure_future(self._prepare(session, call, request, handoff_id, command_id, now))
            if live is not None:
                await asyncio.wait({packing})
        phases = Phases(HANDOFF_PHASE_SECONDS, held=True)  # from the transaction opening

        async def run() -> Handoff:
            locked = await uow.handoffs.under_lock(organization, session_id, handoff_id, now - RATE_WINDOW)
            phases.end("lock")
            if locked is None:
                raise session_not_found(session_id)
            current = locked.session
            _check_may_hand_over(current, request.to_persona, locked.pending)
            if (packing is None or current.playing_persona != session.playing_persona
                    or locked.live_round != _round_number(live)):
                raise Aborted(f"{current.resource_name} changed while the handoff was prepared; start it again",
                              "CONCURRENT_CHANGE")
            if locked.handoff_exists:
                raise InvalidArgument(FieldViolation("handoff_id", f"{current.resource_name}/handoffs/{handoff_id} "
                                                                   "already exists"), reason="HANDOFF_EXISTS")
            handoff = await packing
            phases.end("persona_wait")
            command = Command(
                session_id=session_id, id=handoff.command_id, type=CommandType.HANDOFF, text=handoff.first_message,
                label=f"Handoff to {handoff.accepted_persona}"[:_LABEL_CHARS], new_difficulty=0,
                source=CommandSource.MANUAL, suggestion="", state=CommandState.PENDING, delivery_count=0,
                create_time=now, handoff=handoff)
            approval, check = await self._commands.preflight(organization, current, command,
                                                             mutation.caller.principal.subject, locked.recent)
            await uow.guardrail_checks.add(check)  # logged with the handoff it let through or held
            if approval is not None:  # held with its packet, nothing sent, until a person decides
                held, waiting_for = approval
                handoff = dataclasses.replace(handoff, state=HandoffState.AWAITING_APPROVAL,
                                              approval=waiting_for.resource_name)
                # Stored now, not with the last writes: the approval refers to its command.
                await uow.commands.add(organization, dataclasses.replace(held, handoff=handoff))
                await uow.handoffs.add(organization, handoff)
                await uow.approvals.add(organization, waiting_for)
                await uow.announce.approval_changed(organization, session_id, waiting_for.id)
                return handoff
            # Unless a voice call moves (its rounds change), all from here rides the transaction's last statement.
            await uow.handoffs.add_last(organization, handoff, carried_by=here.sent(command))
            await _take_over(uow, organization, current, handoff, handoff.create_time)
            await uow.announce.command_sent(organization, session_id, command.id)
            return handoff

        here = self._commands.command_here(organization, session_id, command_id)
        try:
            with here:
                async with self.uow() as uow:
                    started = await run_idempotent(uow.requests(organization), mutation, "StartHandoff", run,
                                                   Handoff)
                    phases.end("statements")
                    await uow.commit()
                    phases.end("commit")
                    if here.committed():  # before anything else awaits
                        phases.end("to_stream")
        except _NoVoiceAgent as failed:
            await self._record_failure(organization, failed.handoff)
            raise failed.error from None
        except PreflightRefused as refused:
            await self._commands.log_refusal(refused)
        finally:
            if packing is not None:
                await _discarded(packing)
        if "lock" in phases.ended:  # started now, not a retry's answer from the request log
            phases.observe()
            HANDOFFS_STARTED.labels("requested" if started.accepted_persona == request.to_persona
                                    else "fallback").inc()
        return started

    async def _prepare(self, session: Session, call: CallAtHandoff, request: HandoffRequest, handoff_id: str,
                       command_id: str, now: datetime) -> Handoff:
        """The handoff's packet, and its voice agent when it moves a live voice call."""
        with HANDOFF_PHASE_SECONDS.labels("persona").time():
            handoff = await self._pack(session, request, handoff_id, command_id, now, summarize(call.last_turns),
                                       [PendingAction(PendingActionKind.COMMAND, c.text or c.label, c.resource_name)
                                        for c in call.unacknowledged])
            if call.live is not None:
                handoff = await self._move_voice(session, handoff, call.live)
        return handoff

    async def get_handoff(self, caller: Principal, session_id: str, handoff_id: str) -> Handoff:
        async with self.read() as uow:
            check_may_read(await self._session(uow, caller.organization, session_id), caller)
            handoff = await uow.handoffs.get(caller.organization, session_id, handoff_id)
        if handoff is None:
            raise NotFound(f"sessions/{session_id}/handoffs/{handoff_id}", reason="HANDOFF_NOT_FOUND")
        return handoff

    async def list_handoffs(self, caller: Principal, session_id: str) -> list[Handoff]:
        async with self.read() as uow:
            check_may_read(await self._session(uow, caller.organization, session_id), caller)
            return await uow.handoffs.list(caller.organization, session_id)

    async def _pack(self, session: Session, request: HandoffRequest, handoff_id: str, command_id: str, now: datetime,
                    summary: str, unacknowledged: list[PendingAction]) -> Handoff:
        """The packet: who takes the call, its prompt and first message, what was said, the commands not yet
        acknowledged, and what the outgoing persona knows."""
        # The outgoing persona and its memory are asked while the new persona is chosen and rendered.
        (target, target_name, rendered), outgoing, memory = await asyncio.gather(
            self._rendered_target(session, request), self._personas.availability(session.playing_persona),
            self._recall(session))
        from_name = outgoing.display_name or "your colleague"
        handoff = Handoff(
            session_id=session.id, id=handoff_id, from_persona=session.playing_persona, to_persona=request.to_persona,
            accepted_persona=target, reason=request.reason, conversation_summary=summary,
            active_goals=memory.active_goals, working_memory=memory.scratchpad,
            candidate_preferences=tuple(request.candidate_preferences),
            pending_actions=(*unacknowledged, *(PendingAction(PendingActionKind.COMMITMENT, text, source)
                                                for text, source in memory.commitments)),
            state=HandoffState.PENDING, command_id=command_id, system_prompt="", first_message="",
            create_time=now, update_time=now)
        return dataclasses.replace(
            handoff, system_prompt=fold_into_prompt(rendered.system_prompt, handoff, from_name),
            first_message=handoff_first_message(rendered.first_message, target_name or "a colleague", from_name,
                                                request.reason))

    async def _move_voice(self, session: Session, handoff: Handoff, live: VoiceRound) -> Handoff:
        """The handoff with the new persona's voice agent at the live round's provider, which the next round opens
        on. The agent is the persona's own, made of its plain prompt and reused like at any round start; the packet
        stays in the handoff's prompt and first message, which the gateway gives the new conversation (the
        provider's "handoff" live control): an agent per packet would be created at the provider, seconds long,
        during the live call, at every handoff, and never reused. When no agent can be had, ``_NoVoiceAgent``: the
        handoff is stored FAILED with the reason once the transaction has rolled back, nothing else changes, and the
        caller gets the error naming it."""
        try:
            grant = await self._voice_agents.provision(session.resource_name, handoff.accepted_persona,
                                                       session.scenario, live.provider)
        except DomainError as error:
            HANDOFF_VOICE_AGENTS.labels("failed").inc()
            failed = dataclasses.replace(handoff, state=HandoffState.FAILED, command_id="",
                                         failure_reason=f"no voice agent for {handoff.accepted_persona} at "
                                                        f"{live.provider}: {error.message}")
            error.metadata["handoff"] = failed.resource_name
            raise _NoVoiceAgent(failed, error) from error
        HANDOFF_VOICE_AGENTS.labels("reused" if grant.reused else "created").inc()
        return dataclasses.replace(handoff, voice=HandoffVoice(round_number=live.round_number + 1, grant=grant))

    async def _record_failure(self, organization: str, failed: Handoff) -> None:
        """Stores the failed handoff alone: the session, its rounds and its commands stay as they were."""
        async with self.uow() as uow:
            if await uow.sessions.get(organization, failed.session_id, for_update=True) is None:
                return
            if await uow.handoffs.get(organization, failed.session_id, failed.id) is None:
                await uow.handoffs.add(organization, failed)
                await uow.commit()

    async def _target(self, session: Session, request: HandoffRequest) -> tuple[str, str]:
        """The persona that takes the call and its display name: the one requested, else the first usable
        fallback."""
        refusals: list[str] = []
        for index, name in enumerate([request.to_persona, *request.fallback_personas]):
            if name == session.playing_persona:
                continue
            availability = await self._personas.availability(name)
            if not availability.refusal:
                return name, availability.display_name
            refusals.append(f"{'handoff.to_persona' if index == 0 else f'fallback_personas[{index - 1}]'} "
                            f"{name} {availability.refusal}")
        raise FailedPrecondition(f"no persona can take the call: {'; '.join(refusals)}",
                                 reason="HANDOFF_TARGET_UNAVAILABLE",
                                 metadata={"field": "handoff.to_persona", "resource": request.to_persona})

    async def _rendered_target(self, session: Session, request: HandoffRequest) -> tuple[str, str, RenderedPrompt]:
        """The persona that takes the call, its display name, and its prompt for the session. The requested persona,
        nearly always the one that takes it, is rendered while it is asked whether it may; a fallback once chosen."""
        requested = asyncio.ensure_future(self._render(request.to_persona, session))
        try:
            target, target_name = await self._target(session, request)
        except BaseException:
            await _discarded(requested)
            raise
        if target != request.to_persona:
            await _discarded(requested)
            return target, target_name, await self._render(target, session)
        return target, target_name, await requested

    async def _render(self, persona: str, session: Session) -> RenderedPrompt:
        return await self._personas.render(persona, session.scenario, session.candidate, session.resource_name)

    async def _recall(self, session: Session) -> RecalledMemory:
        """What the outgoing persona remembers of the candidate; a handoff goes on without it rather than fail."""
        if not session.candidate:
            return _NO_MEMORY
        try:
            return await self._personas.recall(session.playing_persona, session.candidate)
        except Unavailable:
            HANDOFF_MEMORY_FALLBACKS.inc()
            return _NO_MEMORY

    @staticmethod
    async def _session(uow: TranscriptUnitOfWork, organization: str, session_id: str) -> Session:
        session = await uow.sessions.get(organization, session_id)
        if session is None:
            raise session_not_found(session_id)
        return session
