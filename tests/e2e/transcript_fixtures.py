"""Helpers for transcript tests: a gateway-like client of StreamSession."""

from __future__ import annotations

import asyncio
import uuid

import grpc
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.transcript.v1 import transcript_service_pb2 as pb


async def new_session(stub, interval: int = 0) -> pb.Session:
    reply = await stub.CreateSession(pb.CreateSessionRequest(session=pb.Session(
        persona="personas/sarah-chen", scenario="scenarios/q2-cost-reduction", blueprint=persona_pb.BLUEPRINT_SALES,
        analysis_interval=interval), session_id=f"call-{uuid.uuid4().hex[:12]}"))
    return reply.session


def utterance(sequence: int, text: str | None = None, role=pb.ROLE_USER) -> pb.StreamSessionRequest:
    return pb.StreamSessionRequest(utterance=pb.Utterance(
        sequence=sequence, role=role, text=text if text is not None else f"utterance number {sequence}"))


class Gateway:
    """One StreamSession call driven frame by frame, as a voice gateway does."""

    def __init__(self, stub, session_name: str, last_known: int = 0) -> None:
        self._requests: asyncio.Queue = asyncio.Queue()
        self._requests.put_nowait(pb.StreamSessionRequest(open=pb.StreamOpen(
            session=session_name, last_known_sequence=last_known)))
        self.call = stub.StreamSession(self._iterate())

    async def _iterate(self):
        while True:
            frame = await self._requests.get()
            if frame is None:
                return
            yield frame

    def send(self, *frames: pb.StreamSessionRequest) -> None:
        for frame in frames:
            self._requests.put_nowait(frame)

    def close(self) -> None:
        self._requests.put_nowait(None)

    async def read(self) -> pb.StreamSessionResponse:
        frame = await self.call.read()
        assert frame is not grpc.aio.EOF, "stream ended"
        return frame

    async def acks_until(self, sequence: int) -> list[pb.UtteranceAck]:
        """Reads frames until the ack of ``sequence``; returns every ack seen (commands are skipped)."""
        acks = []
        while not acks or acks[-1].sequence != sequence:
            frame = await self.read()
            if frame.WhichOneof("frame") == "acks":
                acks.extend(frame.acks.acks)
        return acks
