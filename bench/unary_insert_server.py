"""The design the transcript stream replaces: one unary call per utterance, one INSERT (its own transaction)
per call, acked when it returns.

A bare grpc.aio server with one method, ``/sparring.bench.UnaryTranscript/AppendMessage``: the request is a
``sparring.transcript.v1.Message`` named ``sessions/{session}/messages/{sequence}``, the reply an
``UtteranceAck``. No interceptors, no validation; an asyncpg pool, one autocommitted
``INSERT ... ON CONFLICT DO NOTHING`` into ``transcript.messages`` per call and nothing else (no reset
query when a connection returns to the pool); sessions already exist in ``transcript.sessions`` (the
benchmark inserts them).

    DATABASE_URL=postgresql://... python -m bench.unary_insert_server --port 50998 --pool-size 20
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime

import asyncpg
import grpc
from sparring.transcript.v1 import transcript_service_pb2 as pb

from bench.echo_server import serve_until_terminated
from bench.security import ORGANIZATION
from svckit import eventloop
from svckit.notify import libpq_url

SERVICE = "sparring.bench.UnaryTranscript"
METHOD = "AppendMessage"
FULL_METHOD = f"/{SERVICE}/{METHOD}"
ROLES = {pb.ROLE_USER: "user", pb.ROLE_ASSISTANT: "assistant"}
INSERT = """
INSERT INTO transcript.messages (organization, session_id, sequence, role, text, spoken_time, word_count)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (organization, session_id, sequence) DO NOTHING
"""


async def _no_reset(connection: asyncpg.Connection) -> None:
    return None


async def serve(port: int, database_url: str, pool_size: int) -> None:
    # reset: asyncpg's default sends a reset query on every release, one more round trip per call; this
    # server leaves no session state behind, so it skips it (the design at its best).
    pool = await asyncpg.create_pool(libpq_url(database_url), min_size=pool_size, max_size=pool_size,
                                     reset=_no_reset)

    async def append(request: pb.Message, context: grpc.aio.ServicerContext) -> pb.UtteranceAck:
        session_id = request.name.split("/", 2)[1]
        spoken = (request.spoken_time.ToDatetime(tzinfo=UTC) if request.HasField("spoken_time")
                  else datetime.now(UTC))
        await pool.execute(INSERT, ORGANIZATION, session_id, request.sequence, ROLES[request.role], request.text,
                           spoken, len(request.text.split()))
        return pb.UtteranceAck(sequence=request.sequence)

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {
        METHOD: grpc.unary_unary_rpc_method_handler(append, request_deserializer=pb.Message.FromString,
                                                    response_serializer=pb.UtteranceAck.SerializeToString),
    }),))
    await serve_until_terminated(server, port)
    await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="a database migrated by the transcript service (default: $DATABASE_URL)")
    parser.add_argument("--pool-size", type=int, default=20, help="connections in the asyncpg pool")
    args = parser.parse_args()
    if not args.database_url:
        parser.error("set DATABASE_URL or --database-url")
    eventloop.run(serve(args.port, args.database_url, args.pool_size))


if __name__ == "__main__":
    main()
