"""A client of the transcript service's StreamSession as a voice gateway drives it: open the stream, send
each utterance, wait for its ack (it is durable then), close. Used by the demo and the closed-loop check."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

from sparring.transcript.v1 import transcript_service_pb2 as tpb


async def stream_call(transcripts, session: str, turns: Iterable[tuple[int, str]],
                      after_ack: Callable[[int, int, str], Awaitable[None]] | None = None) -> int:
    """Streams (role, text) turns as utterances 1, 2, ...; ``after_ack(sequence, role, text)`` runs once each
    one is durable. Returns the number of utterances sent."""
    requests: asyncio.Queue = asyncio.Queue()
    await requests.put(tpb.StreamSessionRequest(open=tpb.StreamOpen(session=session)))

    async def frames():
        while (frame := await requests.get()) is not None:
            yield frame

    stream = transcripts.StreamSession(frames())
    await stream.read()  # opened
    sequence = 0
    for sequence, (role, text) in enumerate(turns, start=1):
        await requests.put(tpb.StreamSessionRequest(utterance=tpb.Utterance(sequence=sequence, role=role, text=text)))
        while True:
            frame = await stream.read()
            if frame.WhichOneof("frame") == "acks" and frame.acks.acks[-1].sequence == sequence:
                break
        if after_ack is not None:
            await after_ack(sequence, role, text)
    await requests.put(None)
    await stream.code()
    return sequence
