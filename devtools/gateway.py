"""A client of the transcript service's StreamSession as a voice gateway drives it: open the stream, send
utterances, read their acks (an acked utterance is durable), close. Used by the demo, the closed-loop check and
the tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

import grpc
from sparring.transcript.v1 import transcript_service_pb2 as tpb
from sparring.transcript.v1 import transcript_service_pb2_grpc


def open_frame(session: str, last_known: int = 0) -> tpb.StreamSessionRequest:
    return tpb.StreamSessionRequest(open=tpb.StreamOpen(session=session, last_known_sequence=last_known))


def utterance_frame(sequence: int, role: tpb.Role.ValueType, text: str) -> tpb.StreamSessionRequest:
    return tpb.StreamSessionRequest(utterance=tpb.Utterance(sequence=sequence, role=role, text=text))


class Gateway:
    """One StreamSession call driven frame by frame: frames are sent in order as they are given."""

    def __init__(self, stub: transcript_service_pb2_grpc.TranscriptServiceStub, session: str,
                 last_known: int = 0) -> None:
        self._requests: asyncio.Queue[tpb.StreamSessionRequest | None] = asyncio.Queue()
        self._requests.put_nowait(open_frame(session, last_known))
        self.call = stub.StreamSession(self._frames())

    async def _frames(self) -> AsyncIterator[tpb.StreamSessionRequest]:
        while (frame := await self._requests.get()) is not None:
            yield frame

    def send(self, *frames: tpb.StreamSessionRequest) -> None:
        for frame in frames:
            self._requests.put_nowait(frame)

    def close(self) -> None:
        """Ends the requests: the service then ends the call."""
        self._requests.put_nowait(None)

    async def read(self) -> tpb.StreamSessionResponse:
        frame = await self.call.read()
        if frame is grpc.aio.EOF:
            raise EOFError("stream ended")
        return frame

    async def acks_until(self, sequence: int) -> list[tpb.UtteranceAck]:
        """Reads frames until the ack of ``sequence``; returns every ack seen (commands are skipped)."""
        acks: list[tpb.UtteranceAck] = []
        while not acks or acks[-1].sequence != sequence:
            frame = await self.read()
            if frame.WhichOneof("frame") == "acks":
                acks.extend(frame.acks.acks)
        return acks


async def stream_call(transcripts: transcript_service_pb2_grpc.TranscriptServiceStub, session: str,
                      turns: Iterable[tuple[tpb.Role.ValueType, str]],
                      after_ack: Callable[[int, int, str], Awaitable[None]] | None = None) -> int:
    """Streams (role, text) turns as utterances 1, 2, ..., each once the one before is acked;
    ``after_ack(sequence, role, text)`` runs once each one is durable. Returns the number of utterances sent."""
    gateway = Gateway(transcripts, session)
    await gateway.read()  # opened
    sequence = 0
    for sequence, (role, text) in enumerate(turns, start=1):
        gateway.send(utterance_frame(sequence, role, text))
        await gateway.acks_until(sequence)
        if after_ack is not None:
            await after_ack(sequence, role, text)
    gateway.close()
    await gateway.call.code()
    return sequence
