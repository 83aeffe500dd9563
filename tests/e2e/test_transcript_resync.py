"""A live stream catches up on what it missed while its replica's LISTEN connection was down."""

from __future__ import annotations

import sqlalchemy as sa
from sparring.transcript.v1 import transcript_service_pb2 as pb

from devtools.gateway import Gateway
from tests.e2e.transcript_fixtures import new_session
from tests.security import ORGANIZATION


async def test_a_command_announced_while_listen_was_down_is_delivered_after_reconnect(transcripts, engine):
    session = await new_session(transcripts)
    session_id = session.name.split("/")[1]
    gateway = Gateway(transcripts, session.name)
    await gateway.read()
    async with engine.begin() as connection:
        # A command stored while the announcement could not be heard: no NOTIFY reaches the replica.
        await connection.execute(sa.text(
            "INSERT INTO transcript.commands (organization, session_id, id, type, text, source, state, create_time) "
            "VALUES (:organization, :session, 'missed', 'context_injection', 'Mention the audit next week', 'manual', "
            "'pending', now())"), {"organization": ORGANIZATION, "session": session_id})
        # The listener's connection drops; on reconnect the replica re-reads what its streams may have missed.
        await connection.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'sparring-transcript-listener'"))
    frame = await gateway.read()
    assert frame.command.name == f"{session.name}/commands/missed"
    gateway.close()
    stored = (await transcripts.GetCommand(pb.GetCommandRequest(name=frame.command.name))).command
    assert stored.state == pb.COMMAND_STATE_DELIVERED
