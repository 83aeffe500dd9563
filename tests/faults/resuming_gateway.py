"""A voice gateway as the StreamSession protocol describes it: it pipelines utterances up to a window, reads
acks in order, and after a retryable end reopens the session and resends everything not acked."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
import grpc
from sparring.transcript.v1 import transcript_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from devtools.gateway import open_frame, utterance_frame
from tests.security import secure_channel
from transcript_svc.domain.model import analysis_due

# The ends a gateway answers by reopening the stream and resuming.
RETRYABLE = (grpc.StatusCode.UNAVAILABLE,)
BACK_OFF_SECONDS, MAX_BACK_OFF_SECONDS = 0.01, 0.5


def utterance(sequence: int) -> pb.StreamSessionRequest:
    return utterance_frame(sequence, pb.ROLE_USER if sequence % 2 else pb.ROLE_ASSISTANT,
                           f"utterance {sequence} of the call")


@dataclass
class GatewayState:
    """What a gateway remembers across connections: the highest sequence acked, and what it has sent."""

    acked: int = 0
    sent: int = 0
    duplicates: list[int] = field(default_factory=list)
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    reach_at: int = 0
    on_ack: Callable[[], None] = lambda: None
    endings: list[grpc.StatusCode] = field(default_factory=list)  # how the server ended each failed connection


async def stream_until(address: str, session: str, state: GatewayState, last: int, window: int,
                       overlap: int = 0) -> int:
    """One connection: opens at ``state.acked``, resends everything not acked (and, cautiously, the last
    ``overlap`` acked ones), pipelines up to ``window`` unacked utterances and reads acks until ``last`` is
    acked. Returns the opened last_durable_sequence."""
    async with secure_channel(address) as channel:
        call = transcript_service_pb2_grpc.TranscriptServiceStub(channel).StreamSession()
        await call.write(open_frame(session, state.acked))
        opened = (await call.read()).opened
        durable = opened.last_durable_sequence
        assert durable >= state.acked, "an acked utterance is durable"
        first = max(1, state.acked + 1 - overlap)
        credits = asyncio.Semaphore(window)
        state.sent = first - 1

        async def write() -> None:
            for sequence in range(first, last + 1):
                await credits.acquire()
                await call.write(utterance(sequence))
                state.sent = sequence
            await call.done_writing()

        writer = asyncio.create_task(write())
        expected = first
        try:
            while expected <= last:
                frame = await call.read()
                if frame is grpc.aio.EOF:
                    raise await _ended(call)
                for ack in frame.acks.acks:
                    assert ack.sequence == expected, "acks arrive in order, without gaps"
                    assert ack.duplicate == (ack.sequence <= durable), ack
                    if ack.duplicate:
                        state.duplicates.append(ack.sequence)
                    expected += 1
                    state.acked = max(state.acked, ack.sequence)
                    credits.release()
                    state.on_ack()
                    if state.reach_at and state.acked >= state.reach_at:
                        state.reached.set()
            await writer
            assert await call.code() == grpc.StatusCode.OK
        finally:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
    return durable


def _send_failed(error: grpc.aio.AioRpcError) -> bool:
    """A write that met a stream the server had just ended: grpc's client then ends the call with a local INTERNAL
    in place of the server's status. For a gateway it is the same broken stream, answered by resuming."""
    return error.code() == grpc.StatusCode.INTERNAL and "execute_batch" in (error.debug_error_string() or "")


async def _ended(call: grpc.aio.StreamStreamCall) -> grpc.aio.AioRpcError:
    """The error of a stream the server ended before the gateway was done."""
    return grpc.aio.AioRpcError(await call.code(), grpc.aio.Metadata(), grpc.aio.Metadata(), await call.details())


async def stream_resuming(address: str, session: str, state: GatewayState, last: int, window: int,
                          max_connections: int = 1000) -> None:
    """Streams until ``last`` is acked, reopening after every retryable end (soon at first, then backing off
    as a gateway does while the service cannot store); any other end fails."""
    back_off = BACK_OFF_SECONDS
    for _ in range(max_connections):
        acked_before = state.acked
        try:
            await stream_until(address, session, state, last, window)
            return
        except grpc.aio.AioRpcError as error:
            # A failed write's local INTERNAL stands in for a status the server sent and the client lost: not
            # one of the server's endings, which the tests check.
            if not _send_failed(error):
                state.endings.append(error.code())
                if error.code() not in RETRYABLE:
                    raise
        back_off = BACK_OFF_SECONDS if state.acked > acked_before else min(back_off * 2, MAX_BACK_OFF_SECONDS)
        await asyncio.sleep(back_off)  # a gateway's back-off, not a wait for anything
    raise AssertionError(f"{session}: not done after {max_connections} connections (acked {state.acked})")


async def stored_once(database_url: str, session: str, last: int, interval: int = 10) -> None:
    """Asserts that a session's utterances 1..last are each stored once with their own text, that its durable
    sequence is ``last`` and that each analysis trigger was written once."""
    session_id = session.split("/")[1]
    connection = await asyncpg.connect(database_url)
    try:
        stored = await connection.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT sequence) AS d, min(sequence) AS lo, max(sequence) AS hi, "
            "count(*) FILTER (WHERE text <> 'utterance ' || sequence || ' of the call') AS garbled "
            "FROM transcript.messages WHERE session_id = $1", session_id)
        assert tuple(stored) == (last, last, 1, last, 0), session_id
        durable = await connection.fetchval("SELECT last_sequence FROM transcript.sessions WHERE id = $1", session_id)
        assert durable == last
        triggers = await connection.fetch(
            "SELECT up_to_sequence FROM transcript.outbox WHERE session_id = $1 AND kind = 'analysis' "
            "ORDER BY up_to_sequence", session_id)
        assert [r["up_to_sequence"] for r in triggers] == analysis_due(0, last, interval)
    finally:
        await connection.close()
