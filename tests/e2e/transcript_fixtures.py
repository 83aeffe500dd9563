"""Helpers for transcript tests: a session to stream into and its utterances (devtools.gateway streams them)."""

from __future__ import annotations

from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.transcript.v1 import transcript_service_pb2 as pb

from devtools.gateway import Gateway, utterance_frame
from tests.builders import uid


async def new_session(stub, interval: int = 0, gateway: str = "", session_id: str = "",
                      scenario: str = "scenarios/q2-cost-reduction",
                      persona: str = "personas/sarah-chen") -> pb.Session:
    reply = await stub.CreateSession(pb.CreateSessionRequest(session=pb.Session(
        persona=persona, scenario=scenario, blueprint=persona_pb.BLUEPRINT_SALES,
        analysis_interval=interval, gateway=gateway), session_id=session_id or f"call-{uid()}"))
    return reply.session


def utterance(sequence: int, text: str | None = None, role=pb.ROLE_USER) -> pb.StreamSessionRequest:
    return utterance_frame(sequence, role, text if text is not None else f"utterance number {sequence}")


async def streamed_call(stub, turns: list[tuple[int, str]], creator=None, session_id: str = "",
                        **played: str) -> str:
    """A new session with ``turns`` (role, text) streamed in as one pipelined burst and acked; returns its name.
    ``creator``: the stub that creates it (its caller becomes the session's interviewer), if not ``stub``;
    ``played``: its ``persona`` and ``scenario``, if not the defaults of ``new_session``."""
    session = await new_session(creator or stub, session_id=session_id, **played)
    gateway = Gateway(stub, session.name)
    await gateway.read()
    gateway.send(*(utterance_frame(n, role, text) for n, (role, text) in enumerate(turns, start=1)))
    await gateway.acks_until(len(turns))
    gateway.close()
    return session.name
