"""StreamSession: one bidirectional stream per live call, utterances up, acks and commands down.

Three tasks serve a stream once it is open:
- the reader takes frames in order, checks them, records utterances (the group commit stores them)
  and stops reading when ``max_in_flight`` utterances await their commit (backpressure);
- the acker awaits the commits in arrival order and writes the acks, several to a frame;
- the finisher waits for the reader to end (half-close or a bad frame) or for the stream
  to be stopped (taken over, session ended, shutdown), lets the acker ack everything that
  was accepted, then ends the stream with the status that says why.

A stream the server ends while the gateway may still be writing is wound down first: nothing more
is accepted, and frames are read (utterances dropped, unacknowledged, to be sent again after the
resume) until the gateway has its whole window of ``max_in_flight`` unacknowledged and so writes no
more, half-closes, or ``wind_down_seconds`` pass. Only then is the status sent: a write that races
the end of a call is reported by some client libraries (grpc.aio among them) as INTERNAL, which
would hide the status that tells the gateway what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

import grpc
from prometheus_client import Counter, Histogram
from sparring.transcript.v1 import transcript_service_pb2 as pb

from guardrails.check_log import CheckScope
from guardrails.policy import LivePolicy
from guardrails.risk import alert_score
from guardrails.tokens import TokenBudget
from svckit.context import current_call
from svckit.decoding import UndecodableRequest
from svckit.errors import (
    Aborted,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from transcript_svc.domain.model import Outcome
from transcript_svc.entrypoints import convert
from transcript_svc.service_layer.content_filters import persona_turn_screen
from transcript_svc.service_layer.live import (
    COMMANDS_ACKED,
    COMMANDS_SENT,
    SESSION_ENDED,
    SHUTTING_DOWN,
    TAKEN_OVER,
    LiveStream,
    LiveStreams,
)
from transcript_svc.service_layer.pii import PiiProtection
from transcript_svc.service_layer.recording import Recording, StreamRecorder, TokenWatch, acknowledged_as_duplicate
from transcript_svc.service_layer.safety import SafetyPolicies
from transcript_svc.service_layer.transcripts import Transcripts, session_ended

MESSAGES_RECEIVED = Counter("sparring_transcript_messages_received_total", "Utterances received on live streams.")
MESSAGES_DROPPED = Counter("sparring_transcript_messages_dropped_total",
                           "Utterances read while a failing stream wound down: neither stored nor acknowledged.")
ACK_SECONDS = Histogram(
    "sparring_transcript_ack_seconds", "From an utterance's arrival to its ack being queued for the stream.",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5),
)


@dataclass
class _End:
    """What the finisher hands the response loop: an error to raise, or how to close."""

    error: DomainError | None = None
    session_ended: bool = False


class _Marker(Enum):
    NO_MORE = "no more"  # the acker has been handed every accepted utterance


_NO_MORE = _Marker.NO_MORE
# An utterance awaiting its ack: its sequence, its commit, and when it arrived.
_Awaiting = tuple[int, asyncio.Future[Outcome], float]
_Queued = _Awaiting | Literal[_Marker.NO_MORE]


class StreamSessionHandler:
    def __init__(self, transcripts: Transcripts, recording: Recording, policies: SafetyPolicies,
                 protection: PiiProtection, live: LiveStreams, max_in_flight: int = 256,
                 wind_down_seconds: float = 0.5) -> None:
        self._transcripts = transcripts
        self._recording = recording
        self._policies = policies
        self._protection = protection
        self._live = live
        self._max_in_flight = max_in_flight
        self._wind_down_seconds = wind_down_seconds

    async def __call__(self, requests: AsyncIterator[pb.StreamSessionRequest],
                       context: grpc.aio.ServicerContext) -> AsyncIterator[pb.StreamSessionResponse]:
        frames = requests.__aiter__()
        try:
            first = await frames.__anext__()
        except StopAsyncIteration:
            return
        if first.WhichOneof("frame") != "open":
            raise FailedPrecondition("the first frame of a stream must be `open`", reason="STREAM_NOT_OPEN")
        session_id = convert.session_id_of(first.open.session, "open.session")
        if first.open.last_known_sequence < 0:
            raise InvalidArgument(FieldViolation("open.last_known_sequence", "must not be negative"))
        caller = current_call().principal
        stream = self._live.opening(caller.organization, session_id)
        try:
            grant = await self._transcripts.open_stream(caller, session_id, first.open.last_known_sequence)
        except BaseException:
            self._live.abandon(stream)
            raise
        self._live.register(stream, grant.epoch, (c.id for c in grant.pending_commands))
        try:
            if stream.stopped.done():  # ended or taken over while opening: as if the open had come after
                raise _stop_error(stream.stopped.result(), grant.session.resource_name)
            # Read once: what the stream applies of its persona's policy stays as it was when it opened.
            policy = await self._policies.in_force(caller.organization, grant.session.persona)
            protect = self._protection.for_stream(policy.pii, session_id)
            screen_persona = persona_turn_screen(policy.output_filters)
            yield pb.StreamSessionResponse(opened=pb.StreamOpened(
                session=convert.session_message(grant.session),
                last_durable_sequence=grant.session.last_sequence,
                pending_commands=[convert.command_message(c) for c in grant.pending_commands],
                max_in_flight=self._max_in_flight,
            ))
            COMMANDS_SENT.inc(len(grant.pending_commands))
            checks = CheckScope(caller.organization, session_id, grant.session.persona, policy.name,
                                policy.revision, caller.subject, alert_score(policy.escalation_threshold))
            recorder = self._recording.stream(caller.organization, session_id, grant.epoch,
                                              grant.session.last_sequence, protect, screen_persona, checks,
                                              await self._token_watch(caller.organization, session_id, policy))
            async for frame in _LiveStreamRun(self, stream, frames, recorder).frames():
                yield frame
        finally:
            self._live.unregister(stream)


    async def _token_watch(self, organization: str, session_id: str, policy: LivePolicy) -> TokenWatch | None:
        """The stream's token budget, spent by what the session holds; a session already past it (its last stream
        ended before the END_CALL was sent) is sent it now."""
        if not policy.tokens_per_conversation:
            return None
        budget = TokenBudget(policy.tokens_per_conversation,
                             await self._transcripts.conversation_words(organization, session_id))
        passed = functools.partial(self._transcripts.end_call_over_token_limit, organization, session_id)
        if budget.exceeded:
            await passed()
        return TokenWatch(budget, passed)


class _LiveStreamRun:
    def __init__(self, handler: StreamSessionHandler, stream: LiveStream,
                 frames: AsyncIterator[pb.StreamSessionRequest], recorder: StreamRecorder) -> None:
        self._h = handler
        self._stream = stream
        self._frames = frames
        self._recorder = recorder
        self._out: asyncio.Queue[pb.StreamSessionResponse | _End] = asyncio.Queue()
        self._pending: asyncio.Queue[_Queued] = asyncio.Queue()
        self._slots = asyncio.Semaphore(handler._max_in_flight)
        self._winding_down = False  # set once the stream is to end: frames read from then on are dropped
        self._waiting_for_slot = False
        self._bad_frame: asyncio.Future[DomainError] = asyncio.get_running_loop().create_future()

    async def frames(self) -> AsyncIterator[pb.StreamSessionResponse]:
        reader = asyncio.create_task(self._read())
        acker = asyncio.create_task(self._ack())
        forwarder = asyncio.create_task(self._forward_commands())
        finisher = asyncio.create_task(self._finish(reader, acker))
        try:
            while True:
                item = await self._out.get()
                if isinstance(item, _End):
                    if item.error is not None:
                        raise item.error
                    if item.session_ended:
                        session = await self._h._transcripts.get_session(current_call().principal,
                                                                         self._stream.session_id)
                        yield pb.StreamSessionResponse(ended=pb.SessionEnded(session=convert.session_message(session)))
                    return
                yield item
        finally:
            for task in (reader, acker, forwarder, finisher):
                task.cancel()

    async def _read(self) -> None:
        """Reads frames until the gateway half-closes. The first bad frame is handed to the finisher; from
        then on, as once the finisher winds the stream down, frames are dropped until the window is full."""
        while True:
            if self._winding_down and self._slots.locked():
                return  # the gateway has max_in_flight unacknowledged: it writes no more
            self._waiting_for_slot = True
            await self._slots.acquire()
            self._waiting_for_slot = False
            try:
                request = await self._frames.__anext__()
            except StopAsyncIteration:
                self._slots.release()
                return
            except UndecodableRequest as error:
                if not self._winding_down:
                    self._winding_down = True
                    self._bad_frame.set_result(_naming_its_sequence(error))
                continue  # its slot stays taken: the gateway counts it unacknowledged
            if self._winding_down:
                if request.WhichOneof("frame") == "utterance":
                    MESSAGES_DROPPED.inc()  # its slot stays taken: the gateway counts it unacknowledged
                else:
                    self._slots.release()
                continue
            try:
                await self._accept(request)
            except Exception as error:
                self._winding_down = True
                self._bad_frame.set_result(_domain_error(error))

    async def _accept(self, request: pb.StreamSessionRequest) -> None:
        """Takes one frame: an utterance is recorded (its slot is freed by its ack)."""
        session_id = self._stream.session_id
        kind = request.WhichOneof("frame")
        if kind == "utterance":
            received = time.perf_counter()
            MESSAGES_RECEIVED.inc()
            utterance = convert.utterance_of(request.utterance)
            commit = await self._recorder.record(utterance)
            await self._pending.put((utterance.sequence, commit, received))
            return
        self._slots.release()
        if kind == "command_ack":
            command_session, command_id = convert.command_ref(request.command_ack.command, "command_ack.command")
            if command_session != session_id:
                raise NotFound(request.command_ack.command, reason="COMMAND_NOT_FOUND")
            await self._h._transcripts.acknowledge_command(self._stream.organization, session_id, command_id)
            COMMANDS_ACKED.inc()
        elif kind == "open":
            raise FailedPrecondition("the stream is already open", reason="STREAM_ALREADY_OPEN")
        else:
            raise FailedPrecondition("empty frame: set open, utterance or command_ack", reason="EMPTY_FRAME")

    async def _ack(self) -> None:
        """Acks in arrival order; returns when told there is no more, raises on a conflict or a failed commit."""
        carry: _Queued | None = None
        while True:
            item = carry if carry is not None else await self._pending.get()
            if item is _NO_MORE:
                return
            # Awaited directly (one wake-up of this task, not two as through asyncio.wait); its error, if any, is
            # the stream's, raised below by acknowledged_as_duplicate.
            with contextlib.suppress(Exception):
                await item[1]
            batch, carry = self._settled_after(item)
            acks = []
            failure: DomainError | None = None
            for sequence, commit, received in batch:
                try:
                    duplicate = await acknowledged_as_duplicate(sequence, commit)
                except DomainError as error:
                    failure = error
                    break
                acks.append(pb.UtteranceAck(sequence=sequence, duplicate=duplicate))
                ACK_SECONDS.observe(time.perf_counter() - received)
            if acks:
                await self._out.put(pb.StreamSessionResponse(acks=pb.UtteranceAcks(acks=acks)))
                for _ in acks:
                    self._slots.release()
            if failure is not None:
                raise failure

    def _settled_after(self, first: _Awaiting) -> tuple[list[_Awaiting], _Queued | None]:
        """``first`` (settled) and the settled utterances queued after it, to go into the same frame; and the
        next item queued, if it is not settled yet or is the end."""
        batch = [first]
        while True:
            try:
                queued = self._pending.get_nowait()
            except asyncio.QueueEmpty:
                return batch, None
            if queued is _NO_MORE or not queued[1].done():
                return batch, queued
            batch.append(queued)

    async def _forward_commands(self) -> None:
        while True:
            command = await self._stream.commands.get()
            await self._out.put(pb.StreamSessionResponse(command=convert.command_message(command)))
            COMMANDS_SENT.inc()

    async def _finish(self, reader: asyncio.Task[None], acker: asyncio.Task[None]) -> None:
        ending: set[asyncio.Future[Any]] = {reader, acker, self._stream.stopped, self._bad_frame}
        await asyncio.wait(ending, return_when=asyncio.FIRST_COMPLETED)
        self._winding_down = True  # nothing more is accepted; what was accepted is acked
        await self._pending.put(_NO_MORE)
        ack_error = await _outcome(acker)
        if not reader.done():
            await self._wind_down(reader)
        reader_error = self._bad_frame.result() if self._bad_frame.done() else await _outcome(reader)
        stop = self._stream.stopped.result() if self._stream.stopped.done() else None
        if ack_error is not None:
            end = _End(error=ack_error)
        elif reader_error is not None:
            end = _End(error=reader_error)
        elif stop in (TAKEN_OVER, SHUTTING_DOWN):
            end = _End(error=_stop_error(stop, f"sessions/{self._stream.session_id}"))
        else:
            end = _End(session_ended=stop == SESSION_ENDED)
        await self._out.put(end)

    async def _wind_down(self, reader: asyncio.Task[None]) -> None:
        """Lets the reader drop what the gateway still writes, until its window is full, it half-closes, or
        the time is up; a reader waiting for a slot is waiting on a full window, not on a read."""
        await asyncio.sleep(0)  # a reader that the last acks woke takes its slot first
        if not (self._waiting_for_slot and self._slots.locked()):
            await asyncio.wait({reader}, timeout=self._h._wind_down_seconds)
        reader.cancel()
        await asyncio.wait({reader})


def _stop_error(stop: str, session_name: str) -> DomainError:
    """Why a stream told to stop ends; a session that ended before its stream opened is SESSION_ENDED."""
    if stop == TAKEN_OVER:
        return Aborted("a newer stream opened this session; this one is closed", reason="STREAM_TAKEN_OVER")
    if stop == SESSION_ENDED:
        return session_ended(session_name)
    return Unavailable("the server is shutting down; reconnect and resume", reason="SERVER_SHUTTING_DOWN")


async def _outcome(task: asyncio.Task[None]) -> DomainError | None:
    """How a task of the stream ended: None if well or cancelled, else the error to end the stream with."""
    await asyncio.wait({task})
    error = None if task.cancelled() else task.exception()
    return None if error is None else _domain_error(error)


def _naming_its_sequence(error: UndecodableRequest) -> UndecodableRequest:
    """The sequence tells the gateway which utterance not to send again."""
    if isinstance(error.readable, pb.StreamSessionRequest) and error.readable.HasField("utterance"):
        error.metadata["sequence"] = str(error.readable.utterance.sequence)
    return error


def _domain_error(error: BaseException) -> DomainError:
    if isinstance(error, DomainError):
        return error
    # e.g. the database went away while a command was being acknowledged
    return Unavailable(f"the stream failed ({type(error).__name__}); reconnect and resume", reason="STREAM_FAILED")
