"""`make demo`: a sample discovery call, started as a voice round (the persona's voice agent) and streamed through
the real gateway protocol while a terminal watcher shows the Say Meter, its factors and the suggestions as they
arrive, then the persona audit. The call is round 1 with a candidate: once the persona has learned from it, round 2
with the same candidate starts from a prompt that remembers round 1 (its memory section is shown), and is handed to
the CFO halfway (the handoff command the gateway receives is shown).

Run it with `make run` up. The call is paced so a person can follow it; the pauses are for the
viewer, nothing waits on them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from importlib import resources

import grpc
from sparring.analysis.v1 import analysis_service_pb2 as apb
from sparring.analysis.v1 import analysis_service_pb2_grpc
from sparring.audit.v1 import audit_pb2
from sparring.persona.v1 import memory_service_pb2 as memory_pb
from sparring.persona.v1 import memory_service_pb2_grpc, persona_service_pb2_grpc
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.transcript.v1 import handoff_service_pb2 as hpb
from sparring.transcript.v1 import handoff_service_pb2_grpc, transcript_service_pb2_grpc
from sparring.transcript.v1 import transcript_service_pb2 as tpb
from tenacity import retry, retry_if_result, stop_after_delay, wait_fixed

from devtools.credentials import development_channel
from devtools.endpoints import endpoint
from devtools.gateway import Gateway, stream_call, utterance_frame
from svckit import eventloop

RESET, BOLD, DIM = "\033[0m", "\033[1m", "\033[2m"
COLOURS = {apb.SCORE_BAND_RED: "\033[31m", apb.SCORE_BAND_YELLOW: "\033[33m", apb.SCORE_BAND_GREEN: "\033[32m"}
ROLES = {"candidate": tpb.ROLE_USER, "persona": tpb.ROLE_ASSISTANT}
FACTORS = ("rapport", "discovery", "objection_handling", "value_articulation", "closing_momentum")
# Round 2 with the same candidate, handed to the CFO (a persona of the sample catalogue) after its first turns.
ROUND_TWO = [("persona", "You again. I read the proposal."),
             ("candidate", "Thanks, Sarah. As promised, the trial plan covers last quarter's invoices."),
             ("persona", "The numbers are the CFO's call, not mine.")]
HANDOFF_TO = "personas/margaret-oconnell"
LEARNED_WITHIN = 30.0  # seconds the persona may take to learn from round 1 once it ended


def _bar(value: int, width: int = 40, colour: str = "") -> str:
    filled = round(value / 100 * width)
    return f"{colour}{'█' * filled}{RESET}{DIM}{'░' * (width - filled)}{RESET} {value:3d}"


def _show_meter(analysis: apb.Analysis) -> None:
    meter = analysis.say_meter
    colour = COLOURS.get(meter.band, "")
    print(f"\n{BOLD}Say Meter{RESET}  {_bar(meter.score, colour=colour)}  "
          f"{DIM}(messages {analysis.window.first_sequence}-{analysis.window.last_sequence}){RESET}")
    for factor in FACTORS:
        print(f"  {factor.replace('_', ' '):<20}{_bar(getattr(meter.factors, factor), width=25)}")
    print(f"  {DIM}{meter.reasoning}{RESET}")
    for suggestion in analysis.suggestions:
        kind = apb.SuggestionType.Name(suggestion.type).removeprefix("SUGGESTION_TYPE_").replace("_", " ").lower()
        priority = apb.Priority.Name(suggestion.priority).removeprefix("PRIORITY_").lower()
        print(f"  → [{kind}, {priority}] {suggestion.text}")


def _show_audit(audit: apb.PersonaAudit) -> None:
    s = audit.scores
    print(f"\n{BOLD}Persona audit of {audit.persona_display_name}{RESET}")
    for name, value in (("brevity", s.brevity), ("authenticity", s.authenticity), ("consistency", s.consistency),
                        ("enthusiasm leak", s.enthusiasm_leak), ("pacing", s.pacing)):
        print(f"  {name:<20}{_bar(value * 10, width=25)}")
    print(f"  words per turn {audit.avg_words_per_turn:.1f} (target {audit.target_words_per_turn.min_words}-"
          f"{audit.target_words_per_turn.max_words})")
    for quote in audit.flagged_quotes[:5]:
        reason = audit_pb2.FlagReason.Name(quote.reason).removeprefix("FLAG_REASON_").lower()
        print(f"  ⚑ {reason}: \"{quote.text[:80]}\"")
    for recommendation in audit.recommendations:
        print(f"  • {recommendation}")


async def _watch(stub, session: str) -> None:
    async for event in stub.WatchSession(apb.WatchSessionRequest(session=session)):
        kind = event.WhichOneof("event")
        if kind == "analysis":
            _show_meter(event.analysis)
        elif kind == "audit":
            _show_audit(event.audit)


async def _start_voice(transcripts, session: str) -> None:
    """Starts the call's voice round, as a candidate's Start Call does: the persona's voice agent, on the persona
    service's default provider (`local` under `make run`: nothing leaves the machine)."""
    try:
        voice_round = (await transcripts.StartVoiceRound(tpb.StartVoiceRoundRequest(
            parent=session, request_id=f"start-{session}"))).voice_round
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.FAILED_PRECONDITION:
            raise
        print(f"{DIM}No voice round: {error.details()}{RESET}\n")
        return
    reuse = "reused" if voice_round.agent_reused else "created"
    print(f"{DIM}Voice round {voice_round.round_number} on {voice_round.provider}: {voice_round.voice_agent} "
          f"({reuse}), provider agent {voice_round.provider_agent_id}{RESET}\n")


async def _learned(memories, parent: str) -> None:
    """Until the persona has learned the ended round's facts (they come through the transcript service's outbox;
    the API announces nothing, so the facts are listed until there are some)."""

    @retry(stop=stop_after_delay(LEARNED_WITHIN), wait=wait_fixed(0.1), retry=retry_if_result(lambda facts: not facts))
    async def facts() -> list:
        return list((await memories.ListFacts(memory_pb.ListFactsRequest(parent=parent))).facts)

    await facts()


async def _round_one(transcripts, analyses, call: dict, candidate: str, pause: float) -> None:
    session = (await transcripts.CreateSession(tpb.CreateSessionRequest(
        session=tpb.Session(persona=call["persona"], scenario=call["scenario"], candidate=candidate,
                            blueprint=persona_pb.Blueprint.Value(call["blueprint"]), analysis_interval=4),
        session_id=f"demo-{uuid.uuid4().hex[:8]}"))).session
    print(f"{BOLD}Round 1: live call {session.name}{RESET} with {candidate} (an analysis every 4 messages)")
    await _start_voice(transcripts, session.name)
    watcher = asyncio.create_task(_watch(analyses, session.name))

    async def shown(_sequence: int, role: int, text: str) -> None:
        who = "Candidate" if role == tpb.ROLE_USER else "Persona  "
        print(f"{DIM}{who}{RESET} {text}")
        await asyncio.sleep(pause)  # reading time for the viewer

    await stream_call(transcripts, session.name, ((ROLES[speaker], text) for speaker, text in call["turns"]), shown)
    await transcripts.EndSession(tpb.EndSessionRequest(name=session.name, reason="demo over"))
    await asyncio.wait_for(watcher, timeout=30)


async def _round_two(transcripts, handoffs, personas, call: dict, candidate: str) -> None:
    session = (await transcripts.CreateSession(tpb.CreateSessionRequest(
        session=tpb.Session(persona=call["persona"], scenario=call["scenario"], candidate=candidate,
                            blueprint=persona_pb.Blueprint.Value(call["blueprint"])),
        session_id=f"demo-{uuid.uuid4().hex[:8]}"))).session
    print(f"\n{BOLD}Round 2: live call {session.name}{RESET} with the same candidate")
    rendered = await personas.RenderPrompt(persona_pb.RenderPromptRequest(
        persona=call["persona"], scenario=call["scenario"], candidate=candidate, session=session.name))
    print(f"{BOLD}What the persona remembers of round 1{RESET} (the end of its system prompt):")
    for item in rendered.applied_memory:
        print(f"  {item.text}")
    gateway = Gateway(transcripts, session.name)
    await gateway.read()  # opened
    for sequence, (speaker, text) in enumerate(ROUND_TWO, start=1):
        gateway.send(utterance_frame(sequence, ROLES[speaker], text))
        await gateway.acks_until(sequence)
        print(f"{DIM}{'Candidate' if speaker == 'candidate' else 'Persona  '}{RESET} {text}")
    await handoffs.StartHandoff(hpb.StartHandoffRequest(parent=session.name, handoff=hpb.Handoff(
        to_persona=HANDOFF_TO, reason="Pricing is the CFO's decision")))
    while not (frame := await gateway.read()).HasField("command"):
        pass
    handed = frame.command.handoff
    print(f"{BOLD}The gateway got a {tpb.CommandType.Name(frame.command.type)} command{RESET}: {frame.command.label}")
    print(f"  from {handed.from_persona} to {handed.accepted_persona}: {handed.reason}")
    print(f"  first message: {handed.first_message}")
    for action in handed.pending_actions:
        print(f"  pending: {action.text}")
    gateway.close()
    await gateway.call.code()
    await transcripts.EndSession(tpb.EndSessionRequest(name=session.name, reason="demo over"))


async def run(transcript_address: str, analysis_address: str, persona_address: str, pause: float) -> None:
    call = json.loads((resources.files("analysis_svc") / "demo_data" / "discovery_call.json").read_text())
    candidate = f"candidates/demo-{uuid.uuid4().hex[:8]}"
    async with development_channel(transcript_address, "interviewer", "gateway", subject="demo") as t, \
            development_channel(analysis_address, "interviewer", subject="demo") as a, \
            development_channel(persona_address, "interviewer", subject="demo") as p:
        transcripts = transcript_service_pb2_grpc.TranscriptServiceStub(t)
        await _round_one(transcripts, analysis_service_pb2_grpc.AnalysisServiceStub(a), call, candidate, pause)
        await _learned(memory_service_pb2_grpc.MemoryServiceStub(p), f"{call['persona']}/{candidate}")
        await _round_two(transcripts, handoff_service_pb2_grpc.HandoffServiceStub(t),
                         persona_service_pb2_grpc.PersonaServiceStub(p), call, candidate)


def main() -> None:
    parser = argparse.ArgumentParser(prog="devtools.demo", description=__doc__)
    parser.add_argument("--transcript", default=endpoint("transcript").address)
    parser.add_argument("--analysis", default=endpoint("analysis").address)
    parser.add_argument("--persona", default=endpoint("persona").address)
    parser.add_argument("--pause", type=float, default=1.5, help="seconds between turns, for reading")
    args = parser.parse_args()
    try:
        eventloop.run(run(args.transcript, args.analysis, args.persona, args.pause))
    except grpc.aio.AioRpcError as error:
        raise SystemExit(f"{error.code().name}: {error.details()} (is `make run` up?)") from None


if __name__ == "__main__":
    main()
