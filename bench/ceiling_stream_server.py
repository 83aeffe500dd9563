"""The ceiling of the transcript stream: a bare grpc.aio bidi server that stores each utterance with the
transcript service's own group commit and acks it once committed.

Same method and messages as ``TranscriptService.StreamSession`` (so the same gateway client drives both),
served through a generic handler: no interceptors, no validation, no sequence checks, no metrics of its
own (``--metrics-port`` serves those the group commit keeps, as the service does), no health service.
``open`` names a session already in ``transcript.sessions`` (the benchmark inserts them); every utterance
goes to ``transcript_svc.adapters.group_commit.GroupCommitter`` as the service's do, and the acks of the
utterances committed so far leave in one frame, in order.

    DATABASE_URL=postgresql://... python -m bench.ceiling_stream_server --port 50999 --max-batch 500 --max-delay-ms 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
from prometheus_client import start_http_server
from sparring.transcript.v1 import transcript_service_pb2 as pb

from bench.echo_server import serve_until_terminated
from bench.security import ORGANIZATION
from svckit import eventloop
from transcript_svc.adapters.group_commit import GroupCommitter
from transcript_svc.domain.model import Role, Utterance

SERVICE = pb.DESCRIPTOR.services_by_name["TranscriptService"].full_name
ROLES = {pb.ROLE_USER: Role.USER, pb.ROLE_ASSISTANT: Role.ASSISTANT}
MAX_IN_FLIGHT = 256  # only reported in `opened`: this server does not limit what a stream has in flight


class Streams:
    def __init__(self, committer: GroupCommitter) -> None:
        self._committer = committer

    async def stream_session(self, requests: AsyncIterator[pb.StreamSessionRequest],
                             context: grpc.aio.ServicerContext) -> AsyncIterator[pb.StreamSessionResponse]:
        frames = requests.__aiter__()
        try:
            first = await frames.__anext__()
        except StopAsyncIteration:
            return
        session_id = first.open.session.removeprefix("sessions/")
        yield pb.StreamSessionResponse(opened=pb.StreamOpened(max_in_flight=MAX_IN_FLIGHT))
        pending: deque[tuple[int, asyncio.Future]] = deque()
        arrived = asyncio.Event()
        reader = asyncio.create_task(self._read(frames, session_id, pending, arrived))
        try:
            while True:
                if not pending:
                    if reader.done():
                        reader.result()  # raises what ended the reader, if anything did
                        return
                    arrived.clear()
                    await arrived.wait()
                    continue
                await pending[0][1]
                acks = []
                while pending and pending[0][1].done():
                    sequence, future = pending.popleft()
                    future.result()
                    acks.append(pb.UtteranceAck(sequence=sequence))
                yield pb.StreamSessionResponse(acks=pb.UtteranceAcks(acks=acks))
        finally:
            reader.cancel()

    async def _read(self, frames: AsyncIterator[pb.StreamSessionRequest], session_id: str,
                    pending: deque[tuple[int, asyncio.Future]], arrived: asyncio.Event) -> None:
        try:
            async for request in frames:
                u = request.utterance
                spoken = u.spoken_time.ToDatetime(tzinfo=UTC) if u.HasField("spoken_time") else datetime.now(UTC)
                future = await self._committer.submit(ORGANIZATION, session_id,
                                                      Utterance(u.sequence, ROLES[u.role], u.text, spoken))
                pending.append((u.sequence, future))
                arrived.set()
        finally:
            arrived.set()


async def serve(port: int, database_url: str, max_batch: int, max_delay: float, metrics_port: int = 0) -> None:
    if metrics_port:
        start_http_server(metrics_port, addr="127.0.0.1")
    committer = GroupCommitter(database_url, max_batch=max_batch, max_delay=max_delay)
    await committer.start()
    streams = Streams(committer)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {
        "StreamSession": grpc.stream_stream_rpc_method_handler(
            streams.stream_session, request_deserializer=pb.StreamSessionRequest.FromString,
            response_serializer=pb.StreamSessionResponse.SerializeToString),
    }),))
    await serve_until_terminated(server, port)
    await committer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="a database migrated by the transcript service (default: $DATABASE_URL)")
    parser.add_argument("--max-batch", type=int, required=True, help="most utterances in one group commit")
    parser.add_argument("--max-delay-ms", type=float, required=True,
                        help="how long a group commit waits for more after the first")
    parser.add_argument("--metrics-port", type=int, default=0, help="serve /metrics on this port (default: none)")
    args = parser.parse_args()
    if not args.database_url:
        parser.error("set DATABASE_URL or --database-url")
    eventloop.run(serve(args.port, args.database_url, args.max_batch, args.max_delay_ms / 1000, args.metrics_port))


if __name__ == "__main__":
    main()
