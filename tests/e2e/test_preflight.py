"""Every command on a live call, sent by an interviewer, applied from a suggestion or carrying a handoff, is checked
against the persona's safety policy first: allowed, refused naming the rule, or beyond a rate limit with a delay to
retry after. A refused command is not stored, nor is a refused handoff (one held for approval:
test_handoff_approvals.py)."""

from __future__ import annotations

import grpc
from sparring.analysis.v1 import analysis_service_pb2 as analysis_pb
from sparring.persona.v1 import safety_policy_service_pb2 as policy_pb
from sparring.transcript.v1 import approval_service_pb2 as approval_pb
from sparring.transcript.v1 import handoff_service_pb2 as handoff_pb
from sparring.transcript.v1 import transcript_service_pb2 as pb

from devtools.gateway import Gateway, utterance_frame
from tests.e2e import test_handoff
from tests.e2e.status_details import rejected_in, retry_delay_of
from tests.e2e.test_analysis_live import CALL
from tests.e2e.transcript_checks import rejected
from tests.e2e.transcript_fixtures import new_session, persona_under, streamed_call

CURVEBALL = pb.Command(type=pb.COMMAND_TYPE_CURVEBALL, text="Your CTO wants to delay")
HINT = pb.Command(type=pb.COMMAND_TYPE_CONTEXT_INJECTION, text="Mention budget concerns")
HARDER = pb.Command(type=pb.COMMAND_TYPE_DIFFICULTY_CHANGE, new_difficulty=5)
cfo = test_handoff.cfo  # a persona to hand calls to


async def send(transcripts, session: str, command: pb.Command) -> pb.Command:
    return (await transcripts.SendCommand(pb.SendCommandRequest(parent=session, command=command))).command


async def commands_of(transcripts, session: str) -> list[str]:
    listed = await transcripts.ListCommands(pb.ListCommandsRequest(parent=session, page_size=100))
    return [command.name for command in listed.commands]


class LiveCall:
    """A gateway stream whose every frame is read: the commands it is sent are remembered, since a call's status
    reaches the client only once the frames before it are read."""

    def __init__(self, transcripts, session: str) -> None:
        self.gateway = Gateway(transcripts, session)
        self.commands: set[str] = set()

    async def open(self) -> None:
        await self.gateway.read()

    async def _next(self) -> pb.StreamSessionResponse:
        frame = await self.gateway.read()
        if frame.WhichOneof("frame") == "command":
            self.commands.add(frame.command.name)
        return frame

    async def say(self, sequence: int, role: int, text: str) -> None:
        """Streams an utterance and waits for its ack."""
        self.gateway.send(utterance_frame(sequence, role, text))
        while not any(ack.sequence == sequence for ack in (await self._next()).acks.acks):
            pass

    async def close(self, sent: set[str]) -> None:
        """Ends the call once every command ``sent`` while it was open has reached it."""
        while not sent <= self.commands:
            await self._next()
        self.gateway.close()
        assert await self.gateway.call.code() == grpc.StatusCode.OK


async def session_under(transcripts, personas, policies, policy: policy_pb.SafetyPolicy, *paths: str) -> str:
    persona = await persona_under(personas, policies, policy, *paths)
    return (await new_session(transcripts, persona=persona)).name


async def test_a_blocked_action_is_refused_naming_the_rule_and_others_go_through(transcripts, personas, policies):
    session = await session_under(transcripts, personas, policies,
                                  policy_pb.SafetyPolicy(blocked_actions=[policy_pb.SAFETY_ACTION_CURVEBALL]),
                                  "blocked_actions")
    hint = await send(transcripts, session, HINT)

    refusal = await rejected(send(transcripts, session, CURVEBALL), grpc.StatusCode.FAILED_PRECONDITION)

    assert refusal.reason == "ACTION_BLOCKED"
    policy = refusal.info.metadata["policy"]
    assert policy.startswith("personas/") and policy.endswith("/safetyPolicy")
    assert (refusal.info.metadata["rule"], refusal.info.metadata["action"]) == ("blocked_actions", "CURVEBALL")
    assert "blocked_actions" in refusal.error.details()
    assert await commands_of(transcripts, session) == [hint.name]


async def test_an_action_outside_the_allowed_ones_is_refused(transcripts, personas, policies):
    session = await session_under(transcripts, personas, policies, policy_pb.SafetyPolicy(
        allowed_actions=[policy_pb.SAFETY_ACTION_CONTEXT_INJECTION, policy_pb.SAFETY_ACTION_CURVEBALL]),
        "allowed_actions")
    await send(transcripts, session, CURVEBALL)
    refusal = await rejected(send(transcripts, session, HARDER), grpc.StatusCode.FAILED_PRECONDITION)
    assert (refusal.reason, refusal.info.metadata["rule"]) == ("ACTION_NOT_ALLOWED", "allowed_actions")
    assert len(await commands_of(transcripts, session)) == 1


async def test_commands_beyond_the_limit_per_minute_are_refused_with_when_to_retry(transcripts, personas, policies):
    session = await session_under(transcripts, personas, policies, policy_pb.SafetyPolicy(
        rate_limits=policy_pb.RateLimits(actions_per_minute=2)), "rate_limits")
    for command in (HINT, CURVEBALL):
        await send(transcripts, session, command)

    refusal = await rejected(send(transcripts, session, HARDER), grpc.StatusCode.RESOURCE_EXHAUSTED)

    assert (refusal.reason, refusal.info.metadata["rule"]) == ("ACTIONS_PER_MINUTE_EXCEEDED",
                                                               "rate_limits.actions_per_minute")
    assert 0 < retry_delay_of(refusal.status) <= 60
    assert len(await commands_of(transcripts, session)) == 2


async def test_commands_per_turn_are_counted_again_once_the_candidate_speaks(transcripts, personas, policies):
    session = await session_under(transcripts, personas, policies, policy_pb.SafetyPolicy(
        rate_limits=policy_pb.RateLimits(commands_per_turn=2)), "rate_limits")
    call = LiveCall(transcripts, session)
    await call.open()
    sent = {(await send(transcripts, session, command)).name for command in (HINT, CURVEBALL)}
    refusal = await rejected(send(transcripts, session, HARDER), grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert refusal.reason == "COMMANDS_PER_TURN_EXCEEDED" and retry_delay_of(refusal.status) > 0

    await call.say(1, pb.ROLE_ASSISTANT, "The persona speaks: that does not count as a turn.")
    await rejected(send(transcripts, session, HARDER), grpc.StatusCode.RESOURCE_EXHAUSTED)
    await call.say(2, pb.ROLE_USER, "The candidate answers.")

    harder = await send(transcripts, session, HARDER)
    assert harder.new_difficulty == 5
    await call.close(sent | {harder.name})


async def test_the_default_policy_stops_an_interviewer_firing_ten_curveballs_a_minute(transcripts):
    session = (await new_session(transcripts)).name
    call = LiveCall(transcripts, session)
    await call.open()
    outcomes, sent = [], set()
    for sequence in range(1, 11):
        try:
            sent.add((await send(transcripts, session, CURVEBALL)).name)
            outcomes.append("sent")
        except grpc.aio.AioRpcError as error:
            outcomes.append(error.code().name)
        await call.say(sequence, pb.ROLE_USER, f"answer number {sequence}")
    await call.close(sent)
    assert outcomes == ["sent"] * 6 + ["RESOURCE_EXHAUSTED"] * 4


async def test_a_suggestion_the_policy_refuses_is_not_applied_and_stays_open(transcripts, analyses, personas,
                                                                              policies):
    persona = await persona_under(personas, policies, policy_pb.SafetyPolicy(blocked_actions=[
        policy_pb.SAFETY_ACTION_CONTEXT_INJECTION, policy_pb.SAFETY_ACTION_CURVEBALL]), "blocked_actions")
    session = await streamed_call(transcripts, CALL, persona=persona)
    analysis = (await analyses.RequestAnalysis(analysis_pb.RequestAnalysisRequest(session=session,
                                                                                  trigger_id="seq-10"))).analysis
    suggestion = next(s for s in analysis.suggestions if s.type in (analysis_pb.SUGGESTION_TYPE_CONTEXT_INJECTION,
                                                                    analysis_pb.SUGGESTION_TYPE_CURVEBALL))

    refusal = await rejected_in("analysis.sparring.dev", analyses.ApplySuggestion(
        analysis_pb.ApplySuggestionRequest(name=suggestion.name)), grpc.StatusCode.FAILED_PRECONDITION)

    assert (refusal.reason, refusal.info.metadata["rule"]) == ("ACTION_BLOCKED", "blocked_actions")
    unchanged = (await analyses.GetSuggestion(analysis_pb.GetSuggestionRequest(name=suggestion.name))).suggestion
    assert unchanged.state == analysis_pb.SUGGESTION_STATE_OPEN
    assert await commands_of(transcripts, session) == []


async def handoffs_of(handoffs, session: str) -> list[str]:
    listed = await handoffs.ListHandoffs(handoff_pb.ListHandoffsRequest(parent=session))
    return [handoff.name for handoff in listed.handoffs]


async def test_a_handoff_the_policy_refuses_is_refused_naming_the_rule_and_stores_nothing(
        transcripts, handoffs, approvals, personas, policies, cfo):
    refusing = [(policy_pb.SafetyPolicy(blocked_actions=[policy_pb.SAFETY_ACTION_HANDOFF]), "blocked_actions",
                 "ACTION_BLOCKED"),
                (policy_pb.SafetyPolicy(allowed_actions=[policy_pb.SAFETY_ACTION_CONTEXT_INJECTION]), "allowed_actions",
                 "ACTION_NOT_ALLOWED")]
    for policy, rule, reason in refusing:
        persona = await persona_under(personas, policies, policy, rule)
        session = (await new_session(transcripts, persona=persona)).name

        refusal = await rejected(handoffs.StartHandoff(test_handoff.start(session, cfo.name)),
                                 grpc.StatusCode.FAILED_PRECONDITION)

        assert (refusal.reason, refusal.info.metadata["rule"], refusal.info.metadata["action"]) == (
            reason, rule, "HANDOFF")
        assert refusal.info.metadata["policy"] == f"{persona}/safetyPolicy"
        assert int(refusal.info.metadata["policy_revision"]) > 0 and rule in refusal.error.details()
        assert await handoffs_of(handoffs, session) == [] and await commands_of(transcripts, session) == []
        current = (await transcripts.GetSession(pb.GetSessionRequest(name=session))).session
        assert current.current_persona == persona
        listed = await approvals.ListApprovals(approval_pb.ListApprovalsRequest(parent=session))
        assert list(listed.approvals) == []


async def test_a_handoff_beyond_the_limit_per_minute_is_refused_with_when_to_retry(transcripts, handoffs, personas,
                                                                                   policies, cfo):
    session = await session_under(transcripts, personas, policies, policy_pb.SafetyPolicy(
        rate_limits=policy_pb.RateLimits(actions_per_minute=1)), "rate_limits")
    hint = await send(transcripts, session, HINT)

    refusal = await rejected(handoffs.StartHandoff(test_handoff.start(session, cfo.name)),
                             grpc.StatusCode.RESOURCE_EXHAUSTED)

    assert (refusal.reason, refusal.info.metadata["rule"], refusal.info.metadata["action"]) == (
        "ACTIONS_PER_MINUTE_EXCEEDED", "rate_limits.actions_per_minute", "HANDOFF")
    assert 0 < retry_delay_of(refusal.status) <= 60
    assert await handoffs_of(handoffs, session) == [] and await commands_of(transcripts, session) == [hint.name]
