"""Repositories of the transcript schema."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from guardrails.actions import RecentCommands
from svckit.db import LastWrites
from svckit.records import from_record, to_record
from transcript_svc.adapters import tables as t
from transcript_svc.adapters.channels import STREAMS_CHANNEL
from transcript_svc.adapters.voice_round_store import live_round, voice_round_of
from transcript_svc.domain.handoff import UNSETTLED_STATES, Handoff, HandoffState
from transcript_svc.domain.model import (
    Command,
    CommandSource,
    CommandState,
    CommandType,
    Message,
    MessageFlag,
    Role,
    Session,
    SessionState,
)
from transcript_svc.service_layer.ports import CallAtHandoff, CallUnderLock, SessionFilters

# What a handoff packet keeps once its candidate's memory is erased: nothing the personas remembered of it.
_FORGOTTEN_PACKET = sa.literal(
    '{"working_memory": {}, "active_goals": [], "pending_actions": [], "system_prompt": "", "first_message": ""}')
# Commands a live stream is (again) sent: not those held for, or refused by, an approval.
_SENDABLE = (CommandState.PENDING.value, CommandState.DELIVERED.value)
_SESSION_COLUMNS = [c for c in t.sessions.c if c.name != "stream_epoch"]
# Built once, not at each call: every live reading reads its session twice (GetSession, ListMessages) and its last
# messages once, and building a select of the session's columns cost more than running it.
_SESSION_BY_KEY = sa.select(*_SESSION_COLUMNS).where(t.sessions.c.organization == sa.bindparam("organization"),
                                                     t.sessions.c.id == sa.bindparam("session_id"))
_SESSION_BY_KEY_FOR_UPDATE = _SESSION_BY_KEY.with_for_update()
# A session with its last messages (a reading's window) in one statement: one row per message, or one with no
# message; the messages' columns labelled ``message_*``.
_LAST_MESSAGES = (sa.select(t.messages)
                  .where(t.messages.c.organization == t.sessions.c.organization,
                         t.messages.c.session_id == t.sessions.c.id,
                         t.messages.c.sequence <= sa.bindparam("up_to"))
                  .order_by(t.messages.c.sequence.desc()).limit(sa.bindparam("count")).lateral("last_messages"))
_SESSION_WITH_LAST_MESSAGES = (
    sa.select(*_SESSION_COLUMNS, *(c.label(f"message_{c.name}") for c in _LAST_MESSAGES.c))
    .select_from(t.sessions.outerjoin(_LAST_MESSAGES, sa.true()))
    .where(t.sessions.c.organization == sa.bindparam("organization"), t.sessions.c.id == sa.bindparam("session_id"))
    .order_by(_LAST_MESSAGES.c.sequence))
_ANY_SEQUENCE = 2**63 - 1  # the highest a bigint holds: up to no particular message


def _session(row: Any) -> Session:
    return Session(
        id=row.id, persona=row.persona, scenario=row.scenario, blueprint=row.blueprint,
        round_number=row.round_number, state=SessionState(row.state), persona_revision=row.persona_revision,
        analysis_interval=row.analysis_interval, start_time=row.start_time, end_time=row.end_time,
        end_reason=row.end_reason, last_sequence=row.last_sequence, revision=row.revision,
        update_time=row.update_time, organization=row.organization, interviewer=row.interviewer, gateway=row.gateway,
        candidate=row.candidate, current_persona=row.current_persona, experiment=row.experiment,
        experiment_variant=row.experiment_variant, risk_score=row.risk_score, risk_alert_time=row.risk_alert_time,
    )


def _message(row: Any) -> Message:
    return Message(row.session_id, row.sequence, Role(row.role), row.text, row.spoken_time, row.word_count,
                   row.create_time, tuple(MessageFlag(flag["rule"], flag["blocked"]) for flag in row.flags))


def _labelled_message(row: Any) -> Message:
    """A message of ``_SESSION_WITH_LAST_MESSAGES``."""
    return Message(row.message_session_id, row.message_sequence, Role(row.message_role), row.message_text,
                   row.message_spoken_time, row.message_word_count, row.message_create_time,
                   tuple(MessageFlag(flag["rule"], flag["blocked"]) for flag in row.message_flags))


def _command(row: Any) -> Command:
    return Command(
        session_id=row.session_id, id=row.id, type=CommandType(row.type), text=row.text, label=row.label,
        new_difficulty=row.new_difficulty, source=CommandSource(row.source), suggestion=row.suggestion,
        state=CommandState(row.state), delivery_count=row.delivery_count, create_time=row.create_time,
        deliver_time=row.deliver_time, acknowledge_time=row.acknowledge_time,
        handoff=from_record(Handoff, row.handoff) if row.handoff else None, approval=row.approval,
    )


def _session_key(organization: str, session_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(t.sessions.c.organization == organization, t.sessions.c.id == session_id)


def _child_of(table: sa.Table, organization: str, session_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    return table.c.organization == organization, table.c.session_id == session_id


def _as_json_array(query: sa.Select[Any], order: str) -> sa.ScalarSelect[Any]:
    """The rows of ``query`` as one JSON array ordered by their column ``order``: a read of several tables folded
    into one statement."""
    rows = query.subquery()
    array = sa.func.jsonb_agg(aggregate_order_by(rows.table_valued(), rows.c[order]))
    return sa.select(sa.func.coalesce(array, sa.literal_column("'[]'::jsonb"), type_=JSONB)).scalar_subquery()


def _json_rows(records: list[dict[str, Any]]) -> list[SimpleNamespace]:
    """The rows of ``_as_json_array`` as the row mappers read them: the times (``*_time``, JSON strings) as
    datetimes."""
    return [SimpleNamespace(**{key: datetime.fromisoformat(value) if key.endswith("_time") and value else value
                               for key, value in record.items()}) for record in records]


def _last_messages(organization: str, session_id: str, up_to: int | None, count: int) -> sa.Select[Any]:
    """The session's last ``count`` messages (up to ``up_to``), newest first."""
    m = t.messages.c
    query = sa.select(t.messages).where(*_child_of(t.messages, organization, session_id))
    if up_to:
        query = query.where(m.sequence <= up_to)
    return query.order_by(m.sequence.desc()).limit(count)


def _command_insert(organization: str, command: Command) -> sa.Insert:
    return t.commands.insert().values(
        organization=organization, session_id=command.session_id, id=command.id, type=command.type.value,
        text=command.text, label=command.label, new_difficulty=command.new_difficulty, source=command.source.value,
        suggestion=command.suggestion, state=command.state.value, delivery_count=command.delivery_count,
        create_time=command.create_time, deliver_time=command.deliver_time,
        handoff=to_record(command.handoff) if command.handoff else None, approval=command.approval,
    )


def _unacknowledged(organization: str, session_id: str) -> sa.Select[Any]:
    c = t.commands.c
    return sa.select(t.commands).where(*_child_of(t.commands, organization, session_id), c.state.in_(_SENDABLE))


class SessionRepository:
    def __init__(self, connection: AsyncConnection, last_writes: LastWrites) -> None:
        self._c = connection
        self._last_writes = last_writes

    async def get(self, organization: str, session_id: str, *, for_update: bool = False) -> Session | None:
        query = _SESSION_BY_KEY_FOR_UPDATE if for_update else _SESSION_BY_KEY
        row = (await self._c.execute(query, {"organization": organization, "session_id": session_id})).first()
        return _session(row) if row else None

    async def with_last_messages(self, organization: str, session_id: str, up_to: int | None,
                                 count: int) -> tuple[Session, list[Message]] | None:
        rows = (await self._c.execute(_SESSION_WITH_LAST_MESSAGES, {
            "organization": organization, "session_id": session_id, "up_to": up_to or _ANY_SEQUENCE,
            "count": count})).all()
        if not rows:
            return None
        return _session(rows[0]), [_labelled_message(row) for row in rows if row.message_sequence is not None]

    async def add(self, session: Session) -> None:
        await self._c.execute(t.sessions.insert().values(
            organization=session.organization, id=session.id, interviewer=session.interviewer,
            gateway=session.gateway, persona=session.persona, scenario=session.scenario, blueprint=session.blueprint,
            round_number=session.round_number, state=session.state.value, persona_revision=session.persona_revision,
            analysis_interval=session.analysis_interval, start_time=session.start_time, end_time=None,
            end_reason="", last_sequence=0, revision=session.revision, update_time=session.update_time,
            stream_epoch=0, candidate=session.candidate, current_persona="", experiment=session.experiment,
            experiment_variant=session.experiment_variant,
        ))

    async def end(self, session: Session) -> None:
        await self._c.execute(t.sessions.update().where(_session_key(session.organization, session.id)).values(
            state=session.state.value, end_time=session.end_time, end_reason=session.end_reason,
            revision=session.revision, update_time=session.update_time,
        ))

    async def hand_over(self, session: Session) -> None:
        """Stores the session's new current persona and revision, with the transaction's last writes."""
        self._last_writes.add(t.sessions.update().where(_session_key(session.organization, session.id)).values(
            current_persona=session.current_persona, revision=session.revision, update_time=session.update_time))

    async def forget_candidate(self, organization: str, candidate: str) -> int:
        # The handoff packets of its sessions hold what the personas remembered of it: emptied first.
        of_candidate = sa.select(t.sessions.c.id).where(
            t.sessions.c.organization == organization, t.sessions.c.candidate == candidate).scalar_subquery()
        forgotten = sa.cast(_FORGOTTEN_PACKET, JSONB)
        await self._c.execute(t.handoffs.update().where(
            t.handoffs.c.organization == organization, t.handoffs.c.session_id.in_(of_candidate),
        ).values(packet=t.handoffs.c.packet.op("||")(forgotten)))
        await self._c.execute(t.commands.update().where(
            t.commands.c.organization == organization, t.commands.c.session_id.in_(of_candidate),
            t.commands.c.handoff.is_not(None),
        ).values(handoff=t.commands.c.handoff.op("||")(forgotten)))
        changed = await self._c.execute(t.sessions.update().where(
            t.sessions.c.organization == organization, t.sessions.c.candidate == candidate).values(candidate=""))
        log = t.request_log
        await self._c.execute(log.delete().where(
            log.c.organization == organization,
            sa.func.strpos(sa.cast(log.c.response, sa.Text), f'"candidate": "{candidate}"') > 0))
        return changed.rowcount

    async def stream_epoch(self, organization: str, session_id: str) -> int | None:
        return await self._c.scalar(sa.select(t.sessions.c.stream_epoch).where(_session_key(organization, session_id)))

    async def claim_stream(self, organization: str, session_id: str, last_known_sequence: int,
                           gateway: str) -> tuple[Session, int] | None:
        """Makes the caller the newest stream of the session, if it has not ended, holds ``last_known_sequence``
        and is ``gateway``'s or no gateway's yet (then it becomes ``gateway``'s; '' claims any session and assigns
        none), and announces "{session_id}:{epoch}:{organization}" on the streams channel at commit: one statement.
        Returns the session and the stream's epoch; None when no such session is there to stream."""
        s = t.sessions.c
        claim = t.sessions.update().values(stream_epoch=s.stream_epoch + 1)
        if gateway:  # the gateway check and its assignment ride on the claim: no round trip more
            claim = claim.where(s.gateway.in_(["", gateway])).values(
                gateway=sa.case((s.gateway == "", gateway), else_=s.gateway))
        row = (await self._c.execute(
            claim
            .where(_session_key(organization, session_id), s.state != SessionState.ENDED.value,
                   s.last_sequence >= last_known_sequence)
            .returning(*_SESSION_COLUMNS, s.stream_epoch,
                       sa.func.pg_notify(STREAMS_CHANNEL, s.id + ":" + sa.cast(s.stream_epoch, sa.Text) + ":"
                                         + s.organization))
        )).first()
        return (_session(row), row.stream_epoch) if row else None

    async def list(self, organization: str, filters: SessionFilters, after: tuple[datetime, str] | None,
                   limit: int) -> list[Session]:
        s = t.sessions.c
        query = (sa.select(*_SESSION_COLUMNS).where(s.organization == organization)
                 .order_by(s.start_time.desc(), s.id.desc()).limit(limit))
        if filters.get("participant"):
            query = query.where(sa.or_(s.interviewer == filters["participant"], s.gateway == filters["participant"]))
        for column in ("persona", "scenario", "blueprint", "state"):
            if filters.get(column):
                query = query.where(getattr(s, column) == filters[column])
        if filters.get("start_from"):
            query = query.where(s.start_time >= filters["start_from"])
        if filters.get("start_to"):
            query = query.where(s.start_time < filters["start_to"])
        if after is not None:
            query = query.where(sa.tuple_(s.start_time, s.id) < sa.tuple_(sa.literal(after[0]), sa.literal(after[1])))
        return [_session(row) for row in await self._c.execute(query)]


class MessageRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def get(self, organization: str, session_id: str, sequence: int) -> Message | None:
        row = (await self._c.execute(sa.select(t.messages).where(
            *_child_of(t.messages, organization, session_id), t.messages.c.sequence == sequence))).first()
        return _message(row) if row else None

    async def page(self, organization: str, session_id: str, after: int, up_to: int | None,
                   limit: int) -> list[Message]:
        m = t.messages.c
        query = sa.select(t.messages).where(*_child_of(t.messages, organization, session_id), m.sequence > after)
        if up_to:
            query = query.where(m.sequence <= up_to)
        return [_message(row) for row in await self._c.execute(query.order_by(m.sequence).limit(limit))]

    async def word_total(self, organization: str, session_id: str) -> int:
        """The words of every stored message of the session."""
        m = t.messages.c
        total = await self._c.scalar(sa.select(sa.func.coalesce(sa.func.sum(m.word_count), 0)).where(
            m.organization == organization, m.session_id == session_id))
        return int(total or 0)


class CommandRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def get(self, organization: str, session_id: str, command_id: str) -> Command | None:
        row = (await self._c.execute(sa.select(t.commands).where(
            *_child_of(t.commands, organization, session_id), t.commands.c.id == command_id))).first()
        return _command(row) if row else None

    async def add(self, organization: str, command: Command) -> None:
        await self._c.execute(_command_insert(organization, command))

    async def unacknowledged(self, organization: str, session_id: str) -> list[Command]:
        rows = await self._c.execute(_unacknowledged(organization, session_id).order_by(t.commands.c.position))
        return [_command(row) for row in rows]

    async def mark_delivered(self, organization: str, session_id: str, command_ids: list[str],
                             when: datetime) -> None:
        c = t.commands.c
        await self._c.execute(t.commands.update().where(
            *_child_of(t.commands, organization, session_id), c.id.in_(command_ids), c.state.in_(_SENDABLE),
        ).values(state=CommandState.DELIVERED.value, delivery_count=c.delivery_count + 1, deliver_time=when))

    async def deliver(self, organization: str, session_id: str, command_id: str, when: datetime) -> Command | None:
        c, before = t.commands.c, t.commands.alias("before")
        # Joined to itself, the UPDATE returns the row as its statement found it, before the mark.
        row = (await self._c.execute(t.commands.update().where(
            *_child_of(t.commands, organization, session_id), c.id == command_id, c.state.in_(_SENDABLE),
            before.c.organization == c.organization, before.c.session_id == c.session_id, before.c.id == c.id,
        ).values(state=CommandState.DELIVERED.value, delivery_count=c.delivery_count + 1, deliver_time=when)
            .returning(*before.c))).first()
        return _command(row) if row else None

    async def acknowledge(self, organization: str, session_id: str, command_id: str, when: datetime) -> bool:
        c = t.commands.c
        found = await self._c.scalar(sa.select(sa.literal(True)).where(
            *_child_of(t.commands, organization, session_id), c.id == command_id))
        if not found:
            return False
        await self._c.execute(t.commands.update().where(
            *_child_of(t.commands, organization, session_id), c.id == command_id, c.state.in_(_SENDABLE),
        ).values(state=CommandState.ACKNOWLEDGED.value, acknowledge_time=when))
        return True

    async def list(self, organization: str, session_id: str, state: str | None, source: str | None,
                   after: int | None, limit: int) -> list[tuple[int, Command]]:
        c = t.commands.c
        query = (sa.select(t.commands).where(*_child_of(t.commands, organization, session_id))
                 .order_by(c.position).limit(limit))
        if state:
            query = query.where(c.state == state)
        if source:
            query = query.where(c.source == source)
        if after is not None:
            query = query.where(c.position > after)
        return [(row.position, _command(row)) for row in await self._c.execute(query)]

    async def recent(self, organization: str, session_id: str, since: datetime) -> RecentCommands:
        return RecentCommands(*(await self._c.execute(_recent(organization, session_id, since))).one())


def _recent(organization: str, session_id: str, since: datetime) -> sa.Select[int, Any, int]:
    """The session's commands since ``since`` and since the candidate last spoke, in the order of ``RecentCommands``'s
    fields (columns ``in_window``, ``oldest_in_window``, ``since_candidate_turn``)."""
    c, m = t.commands.c, t.messages.c
    # The candidate's last utterance, found walking the session's messages back from the newest.
    last_turn = (sa.select(m.create_time).where(*_child_of(t.messages, organization, session_id),
                                                m.role == Role.USER.value)
                 .order_by(m.sequence.desc()).limit(1).scalar_subquery())
    in_window = c.create_time > since
    return sa.select(
        sa.func.count().filter(in_window).label("in_window"),
        sa.func.min(c.create_time).filter(in_window).label("oldest_in_window"),
        sa.func.count().filter(c.create_time > sa.func.coalesce(last_turn, sa.literal("-infinity").cast(
            c.create_time.type))).label("since_candidate_turn"),
    ).where(*_child_of(t.commands, organization, session_id))


def _handoff(row: Any) -> Handoff:
    record = {**row.packet, "session_id": row.session_id, "id": row.id, "state": row.state,
              "command_id": row.command_id, "first_sequence": row.first_sequence,
              "create_time": row.create_time.isoformat(), "update_time": row.update_time.isoformat()}
    return from_record(Handoff, record)


def _pending_handoff(organization: str, session_id: str) -> sa.ScalarSelect[Any]:
    """The id of the session's handoff waiting for the gateway or for its approval, if any."""
    return sa.select(t.handoffs.c.id).where(
        *_child_of(t.handoffs, organization, session_id),
        t.handoffs.c.state.in_([state.value for state in UNSETTLED_STATES]),
    ).limit(1).scalar_subquery()


# What the packet column keeps: everything but the columns of its own.
_HANDOFF_COLUMNS = ("session_id", "id", "state", "command_id", "first_sequence", "create_time", "update_time")


def _packet(handoff: Handoff) -> dict[str, Any]:
    return {key: value for key, value in to_record(handoff).items() if key not in _HANDOFF_COLUMNS}


def _handoff_insert(organization: str, handoff: Handoff) -> sa.Insert:
    return t.handoffs.insert().values(
        organization=organization, session_id=handoff.session_id, id=handoff.id, state=handoff.state.value,
        command_id=handoff.command_id, packet=_packet(handoff), first_sequence=0, create_time=handoff.create_time,
        update_time=handoff.update_time)


class HandoffRepository:
    def __init__(self, connection: AsyncConnection, last_writes: LastWrites) -> None:
        self._c = connection
        self._last_writes = last_writes

    async def add(self, organization: str, handoff: Handoff) -> None:
        await self._c.execute(_handoff_insert(organization, handoff))

    async def add_last(self, organization: str, handoff: Handoff, carried_by: Command) -> None:
        """Stores the handoff and the command carrying it with the transaction's last writes; the caller holds the
        session's row locked and knows the session has no handoff of that id (``under_lock``)."""
        self._last_writes.add(_handoff_insert(organization, handoff))
        self._last_writes.add(_command_insert(organization, carried_by))

    async def under_lock(self, organization: str, session_id: str, handoff_id: str,
                         since: datetime) -> CallUnderLock | None:
        recent = _recent(organization, session_id, since).lateral("recent")
        h = t.handoffs.c
        row = (await self._c.execute(sa.select(
            *_SESSION_COLUMNS, _pending_handoff(organization, session_id).label("pending_handoff"),
            sa.select(live_round(organization, session_id).subquery().c.round_number).limit(1).scalar_subquery()
            .label("live_round"),
            sa.exists().where(*_child_of(t.handoffs, organization, session_id), h.id == handoff_id)
            .label("handoff_exists"),
            recent.c.in_window, recent.c.oldest_in_window, recent.c.since_candidate_turn,
        ).select_from(t.sessions.join(recent, sa.true())).where(_session_key(organization, session_id))
            .with_for_update(of=t.sessions))).first()
        if row is None:
            return None
        return CallUnderLock(_session(row), row.pending_handoff, row.live_round or 0, row.handoff_exists,
                             RecentCommands(row.in_window, row.oldest_in_window, row.since_candidate_turn))

    async def get(self, organization: str, session_id: str, handoff_id: str) -> Handoff | None:
        row = (await self._c.execute(sa.select(t.handoffs).where(
            *_child_of(t.handoffs, organization, session_id), t.handoffs.c.id == handoff_id))).first()
        return _handoff(row) if row else None

    async def held_by(self, organization: str, session_id: str, command_id: str) -> Handoff | None:
        """The handoff awaiting the approval of its command ``command_id``, if any."""
        h = t.handoffs.c
        row = (await self._c.execute(sa.select(t.handoffs).where(
            *_child_of(t.handoffs, organization, session_id), h.command_id == command_id,
            h.state == HandoffState.AWAITING_APPROVAL.value))).first()
        return _handoff(row) if row else None

    async def settle(self, organization: str, handoff: Handoff) -> None:
        """Stores what the decision of its approval made of a held handoff, in its row and in the copy its command
        carries to the gateway."""
        h, c = t.handoffs.c, t.commands.c
        await self._c.execute(t.handoffs.update().where(
            *_child_of(t.handoffs, organization, handoff.session_id), h.id == handoff.id,
        ).values(state=handoff.state.value, packet=_packet(handoff), update_time=handoff.update_time))
        await self._c.execute(t.commands.update().where(
            *_child_of(t.commands, organization, handoff.session_id), c.id == handoff.command_id,
        ).values(handoff=to_record(handoff)))

    async def fail_held(self, organization: str, session_id: str, command_id: str, reason: str,
                        when: datetime) -> None:
        """The handoff awaiting the approval of its command ``command_id``, if any, failed for ``reason``."""
        handoff = await self.held_by(organization, session_id, command_id)
        if handoff is not None:
            await self.settle(organization, dataclasses.replace(handoff, state=HandoffState.FAILED,
                                                                failure_reason=reason, update_time=when))

    async def list(self, organization: str, session_id: str) -> list[Handoff]:
        rows = await self._c.execute(sa.select(t.handoffs).where(
            *_child_of(t.handoffs, organization, session_id)).order_by(t.handoffs.c.position))
        return [_handoff(row) for row in rows]

    async def call_at_handoff(self, organization: str, session_id: str, turns: int) -> CallAtHandoff | None:
        row = (await self._c.execute(sa.select(
            *_SESSION_COLUMNS, _pending_handoff(organization, session_id).label("pending_handoff"),
            _as_json_array(_last_messages(organization, session_id, None, turns), "sequence").label("last_turns"),
            _as_json_array(_unacknowledged(organization, session_id), "position").label("unacknowledged"),
            _as_json_array(live_round(organization, session_id), "round_number").label("live_round"),
        ).where(_session_key(organization, session_id)))).first()
        if row is None:
            return None
        live = _json_rows(row.live_round)
        return CallAtHandoff(_session(row), row.pending_handoff, [_message(m) for m in _json_rows(row.last_turns)],
                             [_command(c) for c in _json_rows(row.unacknowledged)],
                             voice_round_of(live[0]) if live else None)

    async def pending_and_live_round(self, organization: str, session_id: str) -> tuple[str | None, int]:
        row = (await self._c.execute(sa.select(
            _pending_handoff(organization, session_id),
            sa.select(live_round(organization, session_id).subquery().c.round_number).limit(1).scalar_subquery(),
        ))).one()
        return row[0], row[1] or 0

    async def accept(self, organization: str, session_id: str, command_id: str, when: datetime) -> None:
        """The pending handoff carried by ``command_id`` is accepted from the next message on; the one accepted
        before it is completed."""
        h = t.handoffs.c
        next_sequence = sa.select(t.sessions.c.last_sequence + 1).where(
            _session_key(organization, session_id)).scalar_subquery()
        accepted = await self._c.scalar(t.handoffs.update().where(
            *_child_of(t.handoffs, organization, session_id), h.command_id == command_id,
            h.state == HandoffState.PENDING.value,
        ).values(state=HandoffState.ACCEPTED.value, first_sequence=next_sequence, update_time=when).returning(h.id))
        if accepted is not None:
            await self._c.execute(t.handoffs.update().where(
                *_child_of(t.handoffs, organization, session_id), h.state == HandoffState.ACCEPTED.value,
                h.id != accepted).values(state=HandoffState.COMPLETED.value, update_time=when))

    async def close(self, organization: str, session_id: str, when: datetime) -> None:
        """The session ended: a pending handoff failed, an accepted one is completed."""
        h = t.handoffs.c
        await self._c.execute(t.handoffs.update().where(
            *_child_of(t.handoffs, organization, session_id),
            h.state.in_([HandoffState.PENDING.value, HandoffState.ACCEPTED.value]),
        ).values(state=sa.case((h.state == HandoffState.PENDING.value, HandoffState.FAILED.value),
                               else_=HandoffState.COMPLETED.value), update_time=when))


class OutboxRepository:
    def __init__(self, connection: AsyncConnection, last_writes: LastWrites) -> None:
        self._c = connection
        self._last_writes = last_writes

    async def enqueue(self, organization: str, session_id: str, kind: str, up_to_sequence: int) -> None:
        """Queued with the transaction's last writes: one request of each kind per transaction."""
        self._last_writes.add(insert(t.outbox).values(
            organization=organization, session_id=session_id, kind=kind, up_to_sequence=up_to_sequence,
            state="pending", attempts=0, last_error="", next_attempt_time=sa.func.now(), create_time=sa.func.now(),
        ).on_conflict_do_nothing())
