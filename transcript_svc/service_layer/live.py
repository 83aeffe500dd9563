"""Live streams held by this replica, and what other replicas tell them through NOTIFY.

A command sent on any replica, a newer stream opened for the same session on any
replica, or the session ending, is announced by PostgreSQL NOTIFY; the replica that
holds the session's live stream acts on it. A command committed on the replica that holds
its session's stream is also handed to it at once: a place is reserved for it on the stream
before its transaction commits (``HeldStreams.reserve``), so the NOTIFY, when it comes back,
finds the command sent, and the stream sends it once.

A stream listens from *before* its open commits (``opening``), not from after: what is
announced between that commit and ``register`` (the session ended, a command sent, a newer
stream opened elsewhere) would otherwise reach no stream at all.

A replica holds at most ``max_open`` streams, opening ones included: each costs memory while it
lives and a database transaction to open. An open beyond that is refused at once, before it
touches the database, with RESOURCE_EXHAUSTED and a RetryInfo: the gateway retries, here or on
another replica.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge, Histogram

from svckit.errors import ResourceExhausted
from transcript_svc.domain.model import Command, SessionState
from transcript_svc.service_layer.transcripts import Transcripts

log = logging.getLogger("transcript.live")

LIVE_STREAMS = Gauge("sparring_transcript_live_streams",
                     "Transcript streams held by this replica, opening ones included (bounded by max_open_streams).")
STREAMS_REFUSED = Counter("sparring_transcript_streams_refused_total",
                          "Stream opens refused because the replica held max_open_streams streams already.")
COMMANDS_SENT = Counter("sparring_transcript_commands_sent_total", "Commands written to live streams.")
COMMANDS_ACKED = Counter("sparring_transcript_commands_acked_total", "Commands acknowledged by the gateway.")
COMMANDS_HANDED_HERE = Counter(
    "sparring_transcript_commands_handed_here_total",
    "Commands handed to a live stream of this replica as their transaction committed here, not through NOTIFY.")
COMMAND_DELIVERY_SECONDS = Histogram(
    "sparring_transcript_command_delivery_seconds",
    "From a command announced to this replica (NOTIFY, or caught up on) to the command queued on its live stream, "
    "its delivery marked in the database.", buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5))


# How long a gateway refused for a full replica waits before it opens again: long enough for a stream
# to end here or for the load balancer to pick another replica, short enough for a live call to go on.
FULL_RETRY_AFTER_SECONDS = 1.0

# Why a live stream is told to stop.
TAKEN_OVER, SESSION_ENDED, SHUTTING_DOWN = "taken_over", "session_ended", "shutting_down"


# A session by its key: (organization, session id); ids are unique only within an organization.
SessionKey = tuple[str, str]


@dataclass(eq=False)
class LiveStream:
    organization: str
    session_id: str
    epoch: int = 0  # 0 while opening: known once the open has committed
    commands: asyncio.Queue[Command] = field(default_factory=asyncio.Queue)
    stopped: asyncio.Future[str] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    newest_epoch: int = 0  # the newest open of the session announced while this one was opening
    early_commands: list[str] = field(default_factory=list)  # announced while opening
    sent: set[str] = field(default_factory=set)  # command ids written (or being written) to this stream

    @property
    def session(self) -> SessionKey:
        return self.organization, self.session_id

    def stop(self, kind: str) -> None:
        if not self.stopped.done():
            self.stopped.set_result(kind)


@dataclass(frozen=True)
class _Slot:
    """A command's place on a live stream, kept from before its transaction commits (``CommandSlot``)."""

    stream: LiveStream
    command_id: str

    def hand(self, command: Command) -> None:
        if not self.stream.stopped.done():
            self.stream.commands.put_nowait(command)
            COMMANDS_HANDED_HERE.inc()

    def cancel(self) -> None:
        self.stream.sent.discard(self.command_id)


class HeldStreams:
    """The registered live streams of this replica, by session (``StreamsHere``): ``LiveStreams`` keeps them, the
    use cases that commit a command reserve a place for it on them."""

    def __init__(self) -> None:
        self.by_session: dict[SessionKey, LiveStream] = {}

    def reserve(self, organization: str, session_id: str, command_id: str) -> _Slot | None:
        stream = self.by_session.get((organization, session_id))
        if stream is None or stream.stopped.done() or command_id in stream.sent:
            return None
        stream.sent.add(command_id)  # its NOTIFY, whenever it comes, finds it sent
        return _Slot(stream, command_id)


class LiveStreams:
    def __init__(self, transcripts: Transcripts, held: HeldStreams, max_open: int) -> None:
        self._transcripts = transcripts
        self._max_open = max_open
        self._held = 0  # streams from ``opening`` to ``abandon`` or ``unregister``
        self._by_session = held.by_session
        self._opening: dict[SessionKey, set[LiveStream]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def opening(self, organization: str, session_id: str) -> LiveStream:
        """A stream about to open ``session_id`` of ``organization``: announcements reach it from now on, before its
        epoch is known.

        Raises ResourceExhausted when the replica holds ``max_open`` streams already."""
        if self._held >= self._max_open:
            STREAMS_REFUSED.inc()
            raise ResourceExhausted(
                f"this replica holds {self._max_open} streams, as many as it may; open again in "
                f"{FULL_RETRY_AFTER_SECONDS:g}s", reason="TOO_MANY_STREAMS",
                metadata={"max_open_streams": str(self._max_open)}, retry_after=FULL_RETRY_AFTER_SECONDS)
        self._held += 1
        LIVE_STREAMS.inc()
        stream = LiveStream(organization, session_id)
        self._opening.setdefault(stream.session, set()).add(stream)
        return stream

    def abandon(self, stream: LiveStream) -> None:
        """An opening stream whose open failed."""
        self._forget_opening(stream)
        self._release()

    def register(self, stream: LiveStream, epoch: int, sent: Iterable[str] = ()) -> None:
        """The open of ``stream`` committed as ``epoch``, handing it the commands ``sent``."""
        self._forget_opening(stream)
        stream.epoch = epoch
        stream.sent.update(sent)
        if stream.newest_epoch > epoch:
            stream.stop(TAKEN_OVER)  # a newer open was announced while this one was opening
        previous = self._by_session.get(stream.session)
        if previous is not None and previous.epoch < stream.epoch:
            previous.stop(TAKEN_OVER)
        if previous is None or previous.epoch < stream.epoch:
            self._by_session[stream.session] = stream
        else:
            stream.stop(TAKEN_OVER)  # a newer stream registered first
        for command_id in stream.early_commands:
            self._spawn(self._deliver(stream, command_id))
        stream.early_commands.clear()

    def unregister(self, stream: LiveStream) -> None:
        """A registered stream has ended."""
        if self._by_session.get(stream.session) is stream:
            del self._by_session[stream.session]
        self._release()

    def _forget_opening(self, stream: LiveStream) -> None:
        streams = self._opening.get(stream.session)
        if streams is not None:
            streams.discard(stream)
            if not streams:
                del self._opening[stream.session]

    def _release(self) -> None:
        self._held -= 1
        LIVE_STREAMS.dec()

    def stop_all(self, kind: str = SHUTTING_DOWN) -> None:
        for stream in [*self._by_session.values(), *(s for group in self._opening.values() for s in group)]:
            stream.stop(kind)

    async def resync(self) -> None:
        """After the LISTEN connection came back: catch up on what was announced while it was down."""
        for stream in list(self._by_session.values()):
            try:
                state, epoch, pending = await self._transcripts.stream_state(*stream.session)
            except Exception as error:
                log.warning("resync of sessions/%s failed: %s", stream.session_id, error)
                continue
            if state is SessionState.ENDED:
                stream.stop(SESSION_ENDED)
            elif epoch > stream.epoch:
                stream.stop(TAKEN_OVER)
            else:
                for command_id in pending:
                    self._spawn(self._deliver(stream, command_id))

    # NOTIFY handlers: called on the event loop by the listener.

    def on_command(self, payload: str) -> None:
        session, command_id = _session_and_item(payload)
        stream = self._by_session.get(session)
        if stream is not None:
            self._spawn(self._deliver(stream, command_id))
        for opening in self._opening.get(session, ()):
            opening.early_commands.append(command_id)

    def on_stream_opened(self, payload: str) -> None:
        session, epoch = _session_and_item(payload)
        stream = self._by_session.get(session)
        if stream is not None and int(epoch) > stream.epoch:
            stream.stop(TAKEN_OVER)
        for opening in self._opening.get(session, ()):
            opening.newest_epoch = max(opening.newest_epoch, int(epoch))

    def on_session_change(self, payload: str) -> None:
        change, _, rest = payload.partition(":")
        if change != "ended":
            return
        session_id, _, organization = rest.partition(":")
        session = organization, session_id
        stream = self._by_session.get(session)
        for ending in [*([stream] if stream is not None else []), *self._opening.get(session, ())]:
            ending.stop(SESSION_ENDED)

    async def _deliver(self, stream: LiveStream, command_id: str) -> None:
        if command_id in stream.sent or stream.stopped.done():
            return  # already handed over by `opened` (its NOTIFY came late), or the stream is ending
        stream.sent.add(command_id)
        began = time.perf_counter()
        command = await self._transcripts.deliverable_command(*stream.session, command_id)
        if command is not None and not stream.stopped.done():
            await stream.commands.put(command)
            COMMAND_DELIVERY_SECONDS.observe(time.perf_counter() - began)

    def _spawn(self, coroutine: Coroutine[object, None, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)


def _session_and_item(payload: str) -> tuple[SessionKey, str]:
    """The session and the item (command id, epoch) of a "{session_id}:{item}:{organization}" payload."""
    session_id, _, rest = payload.partition(":")
    item, _, organization = rest.partition(":")
    return (organization, session_id), item


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("delivering a command failed: %s", task.exception())
