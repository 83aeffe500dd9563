"""Live streams held by this replica, and what other replicas tell them through NOTIFY.

A command sent on any replica, a newer stream opened for the same session on any
replica, or the session ending, is announced by PostgreSQL NOTIFY; the replica that
holds the session's live stream acts on it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge

from transcript_svc.domain.model import Command
from transcript_svc.service_layer.transcripts import Transcripts

log = logging.getLogger("transcript.live")

LIVE_STREAMS = Gauge("sparring_transcript_live_streams", "Live transcript streams held by this replica.")
COMMANDS_SENT = Counter("sparring_transcript_commands_sent_total", "Commands written to live streams.")
COMMANDS_ACKED = Counter("sparring_transcript_commands_acked_total", "Commands acknowledged by the gateway.")


# Why a live stream is told to stop.
TAKEN_OVER, SESSION_ENDED, SHUTTING_DOWN = "taken_over", "session_ended", "shutting_down"


@dataclass(eq=False)
class LiveStream:
    session_id: str
    epoch: int
    commands: asyncio.Queue[Command] = field(default_factory=asyncio.Queue)
    stopped: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def stop(self, kind: str) -> None:
        if not self.stopped.done():
            self.stopped.set_result(kind)


class LiveStreams:
    def __init__(self, transcripts: Transcripts) -> None:
        self._transcripts = transcripts
        self._by_session: dict[str, LiveStream] = {}
        self._tasks: set[asyncio.Task] = set()

    def register(self, stream: LiveStream) -> None:
        previous = self._by_session.get(stream.session_id)
        if previous is not None and previous.epoch < stream.epoch:
            previous.stop(TAKEN_OVER)
        if previous is None or previous.epoch < stream.epoch:
            self._by_session[stream.session_id] = stream
        else:
            stream.stop(TAKEN_OVER)  # a newer stream registered first
        LIVE_STREAMS.set(len(self._by_session))

    def unregister(self, stream: LiveStream) -> None:
        if self._by_session.get(stream.session_id) is stream:
            del self._by_session[stream.session_id]
        LIVE_STREAMS.set(len(self._by_session))

    def stop_all(self, kind: str = SHUTTING_DOWN) -> None:
        for stream in list(self._by_session.values()):
            stream.stop(kind)

    # NOTIFY handlers: called on the event loop by the listener.

    def on_command(self, payload: str) -> None:
        session_id, _, command_id = payload.partition(":")
        stream = self._by_session.get(session_id)
        if stream is not None:
            self._spawn(self._deliver(stream, command_id))

    def on_stream_opened(self, payload: str) -> None:
        session_id, _, epoch = payload.partition(":")
        stream = self._by_session.get(session_id)
        if stream is not None and int(epoch) > stream.epoch:
            stream.stop(TAKEN_OVER)

    def on_session_change(self, payload: str) -> None:
        change, _, session_id = payload.partition(":")
        stream = self._by_session.get(session_id)
        if stream is not None and change == "ended":
            stream.stop(SESSION_ENDED)

    async def _deliver(self, stream: LiveStream, command_id: str) -> None:
        command = await self._transcripts.deliverable_command(stream.session_id, command_id)
        if command is not None and not stream.stopped.done():
            await stream.commands.put(command)

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("delivering a command failed: %s", task.exception())
