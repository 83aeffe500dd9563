"""Use cases of the transcript service: sessions, messages, commands and stream ownership."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from guardrails.actions import RATE_WINDOW, RecentCommands, RefusalKind, SafetyAction, preflight
from guardrails.check_log import CheckScope, GuardrailCheck, preflight_finding
from guardrails.risk import alert_score, at_risk
from svckit.errors import (
    Aborted,
    AlreadyExists,
    DomainError,
    EtagMismatch,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Violations,
)
from svckit.identity import Principal
from svckit.names import check_resource_id
from svckit.pagination import PageTokens, page_size
from svckit.usecase import Mutation, Page, run_idempotent
from transcript_svc.domain.approvals import (
    DEFAULT_APPROVAL_TTL,
    SESSION_ENDED_REASON,
    Approval,
    ApprovalState,
    approval_check,
    held_for_approval,
    why_not_approved,
)
from transcript_svc.domain.model import (
    AUDIT_KIND,
    DEFAULT_ANALYSIS_INTERVAL,
    MAX_ANALYSIS_INTERVAL,
    Command,
    CommandSource,
    CommandState,
    CommandType,
    ExperimentVariant,
    Message,
    Session,
    SessionState,
    check_command,
    check_gateway_subject,
)
from transcript_svc.domain.voice_rounds import RoundEndReason
from transcript_svc.service_layer.ports import (
    CommandSlot,
    Experiments,
    Personas,
    SessionFilters,
    StreamsHere,
    TranscriptUnitOfWork,
)
from transcript_svc.service_layer.risk import log_checks
from transcript_svc.service_layer.safety import APPROVALS, PREFLIGHT_SECONDS, SafetyPolicies, refusal_error

MAX_WINDOW = 1000
# The outbox kind asking the persona service to learn the facts of an ended session with a candidate.
FACTS_KIND = "facts"
# The id of the END_CALL a session's safety policy sends once its conversation passes its token limit.
TOKEN_LIMIT_COMMAND = "token-limit"
# The most messages of one session handed over for learning facts.
MAX_MESSAGES_LEARNED = 5_000


@dataclasses.dataclass(frozen=True)
class ForgottenCandidate:
    sessions_unlinked: int
DEFAULT_MESSAGE_PAGE = 100


def _now() -> datetime:
    return datetime.now(UTC)


class PreflightRefused(Exception):
    """A command the safety policy refused: the status it gets, and the check to log once nothing else is."""

    def __init__(self, error: DomainError, check: GuardrailCheck, alert_score: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.check = check
        self.alert_score = alert_score


def command_input(command: Command) -> str:
    """What the check log keeps of a command: its action and what it says."""
    said = command.text or command.label or (str(command.new_difficulty) if command.new_difficulty else "")
    return f"{command.type.name}: {said}" if said else command.type.name


async def fail_held_handoff(uow: TranscriptUnitOfWork, organization: str, approval: Approval) -> None:
    """The handoff held for an approval that was not given (rejected, expired, refused as its session ended), if
    any, fails saying why. An escalation step naming another persona names who may decide, not who takes the call:
    past the path's last step the handoff fails like any held command."""
    if approval.action is CommandType.HANDOFF:
        await uow.handoffs.fail_held(organization, approval.session_id, approval.id, why_not_approved(approval),
                                     approval.decide_time or _now())


@dataclasses.dataclass(frozen=True)
class StreamGrant:
    session: Session
    epoch: int
    pending_commands: list[Command]


class CommandHere:
    """A command's way to this replica's live stream of its session, when it holds it (``Transcripts.command_here``):
    the place kept for it before its transaction commits, freed on leaving unless the command went to the stream."""

    def __init__(self, slot: CommandSlot | None) -> None:
        self._slot = slot
        self._sent: Command | None = None

    def sent(self, command: Command) -> Command:
        """``command`` is sent by the transaction: what to store of it. Delivered once when the stream here is to be
        handed it at the commit, as the NOTIFY path's statement marks it; the stream sends it as it was before that
        mark, as that path does."""
        self._sent = command
        if self._slot is None:
            return command
        return dataclasses.replace(command, state=CommandState.DELIVERED, delivery_count=1, deliver_time=_now())

    def committed(self) -> bool:
        """After the commit: the command sent goes to the stream here; whether it did."""
        if self._slot is None or self._sent is None:
            return False
        self._slot.hand(self._sent)
        self._slot = None
        return True

    def __enter__(self) -> CommandHere:
        return self

    def __exit__(self, *_: object) -> None:
        # Not handed (rolled back, held for an approval, a retry's answer): the place is freed.
        if self._slot is not None:
            self._slot.cancel()


def session_ended(session_name: str) -> FailedPrecondition:
    """The refusal of anything that needs a live session."""
    return FailedPrecondition(f"{session_name} has ended", reason="SESSION_ENDED", metadata={"resource": session_name})


def session_not_found(session_id: str) -> NotFound:
    """A session of no such id in the caller's organization: whether another organization holds one is not said."""
    return NotFound(f"sessions/{session_id}", reason="SESSION_NOT_FOUND")


def _not_a_participant(session: Session, caller: Principal, action: str) -> PermissionDenied:
    return PermissionDenied(f"{caller.subject} is neither the interviewer nor the gateway of {session.resource_name}, "
                            f"and may not {action} it", reason="NOT_A_PARTICIPANT",
                            metadata={"resource": session.resource_name})


def check_may_read(session: Session, caller: Principal) -> None:
    """Reading a session, its messages or its commands: admins, services and its participants."""
    if not (caller.is_admin or caller.is_service or session.is_participant(caller.subject)):
        raise _not_a_participant(session, caller, "read")


def check_may_end(session: Session, caller: Principal, action: str = "end") -> None:
    """Ending a session, and starting or ending its voice rounds: admins and its participants."""
    if not (caller.is_admin or session.is_participant(caller.subject)):
        raise _not_a_participant(session, caller, action)


def check_may_command(session: Session, caller: Principal) -> None:
    """Commands come from admins, the interviewer, or a service (the analysis service, applying a suggestion
    after checking the interviewer itself)."""
    if not (caller.is_admin or caller.is_service or (caller.subject and caller.subject == session.interviewer)):
        raise PermissionDenied(f"{caller.subject} is not the interviewer of {session.resource_name}, and may not "
                               "send it commands", reason="NOT_A_PARTICIPANT",
                               metadata={"resource": session.resource_name})


def streaming_gateway(caller: Principal) -> str:
    """Whom a stream opened by ``caller`` must be assigned to: '' for an admin (any session, none assigned), else
    the caller's subject."""
    return "" if caller.is_admin else caller.subject


def _check_new_session(draft: Session, session_id: str) -> None:
    violations = Violations()
    if session_id:
        check_resource_id(violations, "session_id", session_id)
    if not draft.persona:
        violations.add("session.persona", "is required: 'personas/{persona_id}'")
    if not draft.blueprint:
        violations.add("session.blueprint", "is required")
    if draft.round_number < 0:
        violations.add("session.round_number", f"must be 1 or more, or 0 for 1 (got {draft.round_number})")
    if not 0 <= draft.analysis_interval <= MAX_ANALYSIS_INTERVAL:
        violations.add("session.analysis_interval",
                       f"must be 1 to {MAX_ANALYSIS_INTERVAL}, or 0 for the default (got {draft.analysis_interval})")
    if draft.persona_revision < 0:
        violations.add("session.persona_revision", "must not be negative")
    check_gateway_subject(draft.gateway, violations)
    violations.raise_if_any()


class NoExperiments:
    """Where no learning service is configured: every session plays its persona as it is."""

    async def variant_for(self, organization: str, persona: str, session_id: str) -> ExperimentVariant | None:
        return None


class Transcripts:
    def __init__(self, uow: Callable[[], TranscriptUnitOfWork], read: Callable[[], TranscriptUnitOfWork],
                 page_tokens: PageTokens, personas: Personas,
                 default_interval: int = DEFAULT_ANALYSIS_INTERVAL, *, policies: SafetyPolicies,
                 approval_ttl: timedelta = DEFAULT_APPROVAL_TTL, experiments: Experiments | None = None,
                 streams: StreamsHere | None = None) -> None:
        """``uow`` opens a transaction; ``read`` opens reads only, with no transaction (one round trip a
        statement). ``streams``: the live streams of this replica, handed the commands committed here."""
        self.uow = uow
        self.read = read
        self._streams = streams
        self._personas = personas
        self._policies = policies
        self._experiments = experiments or NoExperiments()
        self._tokens = page_tokens
        self._default_interval = default_interval
        self._approval_ttl = approval_ttl

    # --- sessions -----------------------------------------------------------------------------

    async def create_session(self, draft: Session, session_id: str, mutation: Mutation) -> Session:
        """A new session of the caller's organization, the caller its interviewer."""
        organization = mutation.caller.organization
        if not organization:
            raise FailedPrecondition("a session belongs to an organization, and this call acts for none (a service "
                                     "names it in x-sparring-organization)", reason="ORGANIZATION_REQUIRED")
        _check_new_session(draft, session_id)
        # Asked before the transaction opens, so no connection waits on the persona service.
        await self._personas.require_usable(draft.persona)
        session_id = session_id or str(uuid.uuid4())
        # The variant hashes from the session id, so a retried creation of the same id gets the same one.
        variant = await self._experiments.variant_for(organization, draft.persona, session_id)
        now = _now()
        session = dataclasses.replace(
            draft, id=session_id, round_number=draft.round_number or 1,
            experiment=variant.experiment if variant else "", experiment_variant=variant.variant_id if variant else "",
            analysis_interval=draft.analysis_interval or self._default_interval, state=SessionState.ACTIVE,
            start_time=now, end_time=None, end_reason="", last_sequence=0, revision=1, update_time=now,
            organization=organization, interviewer=mutation.caller.actor,
        )

        async def run() -> Session:
            if await uow.sessions.get(organization, session.id) is not None:
                raise AlreadyExists(f"{session.resource_name} already exists", reason="SESSION_EXISTS",
                                    metadata={"resource": session.resource_name})
            await uow.sessions.add(session)
            return session

        async with self.uow() as uow:
            created = await run_idempotent(uow.requests(organization), mutation, "CreateSession", run, Session)
            await uow.commit()
        return created

    async def get_session(self, caller: Principal, session_id: str) -> Session:
        async with self.read() as uow:
            return await self._readable_session(uow, caller, session_id)

    async def list_sessions(self, caller: Principal, filters: SessionFilters, requested_size: int,
                            token: str) -> Page[Session]:
        """The organization's sessions for admins and services; the caller's own (as interviewer or gateway) for
        anyone else."""
        size = page_size(requested_size)
        if not (caller.is_admin or caller.is_service):
            filters = {**filters, "participant": caller.subject}
        cursor = self._tokens.decode(token, filters)
        after = (datetime.fromisoformat(cursor[0]), cursor[1]) if cursor else None
        async with self.read() as uow:
            items = await uow.sessions.list(caller.organization, filters, after, size + 1)
        return Page(*self._tokens.page(items, size, lambda s: [s.start_time.isoformat(), s.id], filters))

    async def end_session(self, session_id: str, etag: str, reason: str, mutation: Mutation) -> Session:
        if len(reason) > 500:
            raise InvalidArgument(FieldViolation("reason", "must be at most 500 characters"))
        organization = mutation.caller.organization

        async def run() -> Session:
            current = await uow.sessions.get(organization, session_id, for_update=True)
            if current is None:
                raise session_not_found(session_id)
            check_may_end(current, mutation.caller.principal)
            if etag and etag != current.etag:
                raise EtagMismatch(current.resource_name, etag, current.etag)
            if current.state is SessionState.ENDED:
                return current
            now = _now()
            ended = dataclasses.replace(current, state=SessionState.ENDED, end_time=now, end_reason=reason,
                                        revision=current.revision + 1, update_time=now)
            await uow.sessions.end(ended)
            # Nobody can approve a command of an ended call: what still waits is refused now, not at its expiry.
            refused = await uow.approvals.refuse_pending(organization, session_id, now, SESSION_ENDED_REASON)
            await uow.guardrail_checks.add(*(approval_check(organization, current.persona, approval,
                                                            mutation.caller.principal.subject, now)
                                             for approval in refused))
            for approval in refused:
                await fail_held_handoff(uow, organization, approval)
                await uow.announce.approval_changed(organization, session_id, approval.id)
            APPROVALS.labels(ApprovalState.REFUSED.value).inc(len(refused))
            await uow.voice_rounds.end_live(organization, session_id, now, RoundEndReason.SESSION_ENDED)
            await uow.handoffs.close(organization, session_id, now)
            # The post-call audit is requested through the outbox: durable with the end itself.
            await uow.outbox.enqueue(organization, session_id, AUDIT_KIND, ended.last_sequence)
            if ended.candidate:
                # So is the persona's learning of the facts of the call, to remember in the candidate's next round.
                await uow.outbox.enqueue(organization, session_id, FACTS_KIND, ended.last_sequence)
            await uow.announce.session_ended(organization, session_id)
            await uow.announce.outbox_due()
            return ended

        async with self.uow() as uow:
            session = await run_idempotent(uow.requests(organization), mutation, "EndSession", run, Session)
            await uow.commit()
        return session

    async def forget_candidate(self, candidate: str, mutation: Mutation) -> int:
        """The organization's sessions stop naming ``candidate``: its memory is being erased."""
        organization = mutation.caller.organization

        async def run() -> ForgottenCandidate:
            return ForgottenCandidate(await uow.sessions.forget_candidate(organization, candidate))

        async with self.uow() as uow:
            forgotten = await run_idempotent(uow.requests(organization), mutation, "ForgetCandidate", run,
                                             ForgottenCandidate)
            await uow.commit()
        return forgotten.sessions_unlinked

    async def ended_transcript(self, organization: str, session_id: str) -> tuple[Session, list[Message]]:
        """An ended session and its messages (the first MAX_MESSAGES_LEARNED), for the persona to learn from."""
        async with self.read() as uow:
            session = await uow.sessions.get(organization, session_id)
            if session is None:
                raise session_not_found(session_id)
            return session, await uow.messages.page(organization, session_id, 0, None, MAX_MESSAGES_LEARNED)

    async def conversation_words(self, organization: str, session_id: str) -> int:
        """The words the session's stored messages hold: what its token budget has spent (guardrails.tokens)."""
        async with self.read() as uow:
            return await uow.messages.word_total(organization, session_id)

    async def end_call_over_token_limit(self, organization: str, session_id: str) -> None:
        """Sends the live call an END_CALL from its safety policy, once a session: the conversation passed the
        policy's tokens_per_conversation. Utterances reach the service once said, so refusing to store them would
        only make the transcript wrong; ending the call (the gateway ends it politely) is what stops the persona."""
        command = Command(session_id, TOKEN_LIMIT_COMMAND, CommandType.END_CALL,
                          "The conversation reached its token limit", "", 0, CommandSource.SAFETY_POLICY, "",
                          CommandState.PENDING, 0, _now())
        async with self.uow() as uow:
            session = await uow.sessions.get(organization, session_id, for_update=True)
            if session is None or session.state is SessionState.ENDED \
                    or await uow.commands.get(organization, session_id, command.id) is not None:
                return
            await uow.commands.add(organization, command)
            await uow.announce.command_sent(organization, session_id, command.id)
            await uow.commit()

    async def session_risk(self, organization: str, session_id: str) -> tuple[int, datetime | None, bool]:
        """The session's risk score, when it alerted (None: not yet), and whether the score is at risk under the
        policy in force."""
        async with self.read() as uow:
            session = await uow.sessions.get(organization, session_id)
        if session is None:
            raise session_not_found(session_id)
        policy = await self._policies.in_force(organization, session.persona)
        return session.risk_score, session.risk_alert_time, at_risk(session.risk_score, policy.risk_threshold)

    # --- messages -----------------------------------------------------------------------------

    async def get_message(self, caller: Principal, session_id: str, sequence: int) -> Message:
        async with self.read() as uow:
            await self._readable_session(uow, caller, session_id)
            message = await uow.messages.get(caller.organization, session_id, sequence)
            if message is None:
                raise NotFound(f"sessions/{session_id}/messages/{sequence}", reason="MESSAGE_NOT_FOUND")
        return message

    async def list_messages(self, caller: Principal, session_id: str, last_n: int, after: int, up_to: int,
                            requested_size: int, token: str) -> tuple[list[Message], str, int]:
        violations = Violations()
        violations.require(0 <= last_n <= MAX_WINDOW, "last_n", f"must be 0 to {MAX_WINDOW} (got {last_n})")
        violations.require(after >= 0, "after_sequence", "must not be negative")
        violations.require(up_to >= 0, "up_to_sequence", "must not be negative")
        if last_n and (token or after):
            violations.add("last_n", "cannot be combined with page_token or after_sequence")
        violations.raise_if_any()
        organization = caller.organization
        async with self.read() as uow:
            if last_n:  # a live reading's window: read with its session in one statement
                found = await uow.sessions.with_last_messages(organization, session_id, up_to or None, last_n)
                if found is None:
                    raise session_not_found(session_id)
                session, messages = found
                check_may_read(session, caller)
                return messages, "", session.last_sequence
            session = await self._readable_session(uow, caller, session_id)
            size = page_size(requested_size, default=DEFAULT_MESSAGE_PAGE, maximum=MAX_WINDOW)
            filters = {"session": session_id, "after": after, "up_to": up_to}
            cursor = self._tokens.decode(token, filters)
            start = cursor if cursor is not None else after
            items = await uow.messages.page(organization, session_id, start, up_to or None, size + 1)
        return (*self._tokens.page(items, size, lambda m: m.sequence, filters), session.last_sequence)

    # --- commands -----------------------------------------------------------------------------

    async def send_command(self, session_id: str, draft: Command, command_id: str, mutation: Mutation) -> Command:
        violations = Violations()
        if command_id:
            check_resource_id(violations, "command_id", command_id)
        check_command(draft, violations)
        violations.raise_if_any()
        command = dataclasses.replace(draft, session_id=session_id, id=command_id or str(uuid.uuid4()),
                                      state=CommandState.PENDING, delivery_count=0, create_time=_now(),
                                      deliver_time=None, acknowledge_time=None)
        organization = mutation.caller.organization

        async def run() -> Command:
            # Locked: the commands of one session are counted against its limits one at a time.
            session = await uow.sessions.get(organization, session_id, for_update=True)
            if session is None:
                raise session_not_found(session_id)
            check_may_command(session, mutation.caller.principal)
            if session.state is SessionState.ENDED:
                raise session_ended(session.resource_name)
            if await uow.commands.get(organization, session_id, command.id) is not None:
                raise AlreadyExists(f"{command.resource_name} already exists", reason="COMMAND_EXISTS",
                                    metadata={"resource": command.resource_name})
            approval, check = await self.preflight(
                organization, session, command, mutation.caller.principal.subject,
                await uow.commands.recent(organization, session_id, command.create_time - RATE_WINDOW))
            await uow.guardrail_checks.add(check)  # logged with the command it let through or held
            if approval is not None:  # held, not sent, until a person decides
                held, request = approval
                await uow.commands.add(organization, held)
                await uow.approvals.add(organization, request)
                await uow.announce.approval_changed(organization, session_id, request.id)
                return held
            await uow.commands.add(organization, here.sent(command))
            await uow.announce.command_sent(organization, session_id, command.id)
            return command

        with self.command_here(organization, session_id, command.id) as here:
            try:
                async with self.uow() as uow:
                    stored = await run_idempotent(uow.requests(organization), mutation, "SendCommand", run, Command)
                    await uow.commit()
                    here.committed()
            except PreflightRefused as refused:
                await self.log_refusal(refused)
        return stored

    def command_here(self, organization: str, session_id: str, command_id: str) -> CommandHere:
        """The command's way to this replica's live stream of the session, if it holds it: a place is kept for it
        now, the command is stored as delivered (``CommandHere.sent``) and handed to the stream as soon as its
        transaction commits (``CommandHere.committed``), not after its NOTIFY has come back and a statement has
        marked it. The NOTIFY still goes, for a stream elsewhere."""
        streams = self._streams
        return CommandHere(streams.reserve(organization, session_id, command_id) if streams is not None else None)

    async def log_refusal(self, refused: PreflightRefused) -> NoReturn:
        """Logs a refusal once the transaction that raised it is rolled back (nothing of the refused command was
        stored, and the refusal is now certain), in a transaction of its own; then raises its status."""
        async with self.uow() as uow:
            await log_checks(uow, refused.alert_score, refused.check)
            await uow.commit()
        raise refused.error from None

    async def preflight(self, organization: str, session: Session, command: Command, requester: str,
                        recent: RecentCommands) -> tuple[tuple[Command, Approval] | None, GuardrailCheck]:
        """Refuses the command (``PreflightRefused``) if the persona's safety policy does not let it be taken now;
        if the policy wants a person's approval first, the command as held and the approval it waits for. With the
        check to log. ``recent``: the session's commands, read with its row locked (from ``RATE_WINDOW`` before the
        command), so the commands of a session are counted against its limits one at a time."""
        started = time.perf_counter()
        policy = await self._policies.in_force(organization, session.persona)
        action = SafetyAction[command.type.name]
        refusal = preflight(action, policy.actions, recent, command.create_time)
        PREFLIGHT_SECONDS.observe(time.perf_counter() - started)
        check = CheckScope(organization, session.id, session.persona, policy.name, policy.revision, requester).record(
            preflight_finding(refusal), command_input(command), command.resource_name, command.create_time)
        if refusal is not None and refusal.kind is RefusalKind.APPROVAL_REQUIRED:
            APPROVALS.labels("requested").inc()
            return held_for_approval(command, refusal.rule, policy.name, policy.revision, requester,
                                     self._approval_ttl), check
        if refusal is not None:
            raise PreflightRefused(refusal_error(refusal, action, policy), check,
                                   alert_score(policy.escalation_threshold))
        return None, check

    async def get_command(self, caller: Principal, session_id: str, command_id: str) -> Command:
        async with self.read() as uow:
            await self._readable_session(uow, caller, session_id)
            command = await uow.commands.get(caller.organization, session_id, command_id)
            if command is None:
                raise NotFound(f"sessions/{session_id}/commands/{command_id}", reason="COMMAND_NOT_FOUND")
        return command

    async def list_commands(self, caller: Principal, session_id: str, state: str | None, source: str | None,
                            requested_size: int, token: str) -> Page[Command]:
        size = page_size(requested_size)
        filters = {"session": session_id, "state": state, "source": source}
        after = self._tokens.decode(token, filters)
        async with self.read() as uow:
            await self._readable_session(uow, caller, session_id)
            rows = await uow.commands.list(caller.organization, session_id, state, source, after, size + 1)
        rows, next_token = self._tokens.page(rows, size, lambda row: row[0], filters)
        return Page([command for _, command in rows], next_token)

    # --- live streams -------------------------------------------------------------------------

    async def open_stream(self, caller: Principal, session_id: str, last_known_sequence: int) -> StreamGrant:
        """Makes the caller the session's newest stream and hands it the commands not yet acknowledged. A gateway
        streams only the session it is assigned, or one with no gateway yet, which is then assigned to it."""
        organization = caller.organization
        gateway = streaming_gateway(caller)
        async with self.uow() as uow:
            # Checked, assigned and claimed in one statement: a burst of opens costs the database as little as it can.
            claimed = await uow.sessions.claim_stream(organization, session_id, last_known_sequence, gateway)
            if claimed is None:
                await self._refuse_stream(uow, organization, session_id, last_known_sequence, gateway)
            session, epoch = claimed
            pending = await uow.commands.unacknowledged(organization, session_id)
            if pending:
                await uow.commands.mark_delivered(organization, session_id, [c.id for c in pending], _now())
            await uow.commit()
        return StreamGrant(session, epoch, pending)

    async def _refuse_stream(self, uow: TranscriptUnitOfWork, organization: str, session_id: str,
                             last_known_sequence: int, gateway: str) -> NoReturn:
        """Why a stream could not claim the session."""
        session = await self._require_session(uow, organization, session_id)
        if gateway and session.gateway not in ("", gateway):
            raise PermissionDenied(f"{session.resource_name} is streamed by another gateway",
                                   reason="GATEWAY_NOT_ASSIGNED", metadata={"resource": session.resource_name})
        if session.state is SessionState.ENDED:
            raise session_ended(session.resource_name)
        if last_known_sequence > session.last_sequence:
            raise FailedPrecondition(
                f"last_known_sequence {last_known_sequence} is above the durable record "
                f"({session.last_sequence})", reason="SEQUENCE_AHEAD_OF_STORE",
                metadata={"last_durable_sequence": str(session.last_sequence)})
        # Claimable now but not a moment ago: its durable record grew in between; the next open succeeds.
        raise Aborted(f"{session.resource_name} changed while the stream opened; open again", "CONCURRENT_CHANGE")

    async def stream_state(self, organization: str, session_id: str) -> tuple[SessionState, int, list[str]]:
        """What a live stream may have missed: the session's state, its newest stream epoch, the commands
        not yet acknowledged."""
        async with self.read() as uow:
            session = await self._require_session(uow, organization, session_id)
            epoch = await uow.sessions.stream_epoch(organization, session_id)
            pending = [c.id for c in await uow.commands.unacknowledged(organization, session_id)]
        return session.state, epoch or 0, pending

    async def deliverable_command(self, organization: str, session_id: str, command_id: str) -> Command | None:
        """A command about to be written to a live stream, marked delivered; None if acknowledged meanwhile.

        One statement, atomic on its own: no transaction around it, so the command waits on one round trip to the
        database on its way to the stream, not on BEGIN, a read, a write and COMMIT."""
        async with self.read() as uow:
            return await uow.commands.deliver(organization, session_id, command_id, _now())

    async def acknowledge_command(self, organization: str, session_id: str, command_id: str) -> None:
        async with self.uow() as uow:
            now = _now()
            if not await uow.commands.acknowledge(organization, session_id, command_id, now):
                raise NotFound(f"sessions/{session_id}/commands/{command_id}", reason="COMMAND_NOT_FOUND")
            # A HANDOFF command acknowledged: the new persona plays the call from here on.
            await uow.handoffs.accept(organization, session_id, command_id, now)
            await uow.commit()

    @staticmethod
    async def _require_session(uow: TranscriptUnitOfWork, organization: str, session_id: str) -> Session:
        session = await uow.sessions.get(organization, session_id)
        if session is None:
            raise session_not_found(session_id)
        return session

    @classmethod
    async def _readable_session(cls, uow: TranscriptUnitOfWork, caller: Principal, session_id: str) -> Session:
        session = await cls._require_session(uow, caller.organization, session_id)
        check_may_read(session, caller)
        return session
