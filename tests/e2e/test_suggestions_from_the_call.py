"""Suggestions read against the call they came from, through the public API: each cites messages of the call and
quotes them, the curveballs are the session's persona's and scenario's, and nothing applied or dismissed (or made at
all) comes back in a later reading."""

from __future__ import annotations

from sparring.analysis.v1 import analysis_service_pb2 as pb
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.transcript.v1 import transcript_service_pb2 as transcript_pb

from analysis_svc.adapters.call_contexts import CallContexts
from analysis_svc.adapters.transcript_reader import TranscriptReader
from analysis_svc.domain.model import Window
from analysis_svc.domain.suggestions import NO_CONTEXT, CallContext, quote
from tests.builders import new_persona
from tests.e2e.transcript_checks import session_id as session_id_of
from tests.e2e.transcript_fixtures import streamed_call
from tests.probes import free_port, metric
from tests.security import ORGANIZATION, service_link

USER, PERSONA = transcript_pb.ROLE_USER, transcript_pb.ROLE_ASSISTANT
OBJECTIONS = ["We tried a spend tool two years ago and nobody logged in after the first month.",
              "Is there a smaller package? The price is more than I can get approved."]
PAIN_POINTS = ["Renewals auto-renew before anyone reviews usage"]
CALL = [
    (USER, "Thanks for taking the call. What made you take it today?"),
    (PERSONA, "Our finance team is two people and they spend every Friday chasing card receipts."),
    (USER, "That sounds painful. Which part of that takes the longest?"),
    (PERSONA, "Working out who owns each subscription, nobody knows who signed up for half of them."),
    (USER, "Got it. How many subscriptions are we talking about?"),
    (PERSONA, "About a hundred and forty across the company, many of them duplicates after two acquisitions."),
    (USER, "And what happens today when a duplicate turns up?"),
    (PERSONA, "Usually nothing, nobody has time to chase the owners so we keep paying for both."),
    (USER, "Our platform finds every subscription and its owner in a day, and customers cut costs by a fifth."),
    (PERSONA, "That would help, the board wants the savings in the June pack."),
    (USER, "If it found the duplicates for you, what would you do first with that list?"),
    (PERSONA, "Cancel the obvious ones and start asking owners whether they still need the rest."),
    (USER, "It saves your two people the Friday chase, and it cuts costs on every renewal after that."),
    (PERSONA, "Maybe. I would want to see it on our own data before I believe it."),
]


async def _played_call(personas, transcripts) -> str:
    """A session of ``CALL`` with a persona of ``OBJECTIONS`` in a scenario of ``PAIN_POINTS``."""
    persona = (await personas.CreatePersona(persona_pb.CreatePersonaRequest(
        persona=new_persona(objection_patterns=OBJECTIONS)))).persona
    scenario = (await personas.CreateScenario(persona_pb.CreateScenarioRequest(scenario=persona_pb.Scenario(
        display_name="SaaS spend review", pain_points=PAIN_POINTS, budget_range="$40k-$90k per year",
        decision_timeline="decision by end of Q2")))).scenario
    return await streamed_call(transcripts, CALL, persona=persona.name, scenario=scenario.name)


async def test_suggestions_cite_and_quote_the_call_and_none_made_comes_back(personas, transcripts, analyses):
    session = await _played_call(personas, transcripts)
    said = {m.sequence: m.text for m in (await transcripts.ListMessages(
        transcript_pb.ListMessagesRequest(parent=session))).messages}

    early = (await analyses.RequestAnalysis(pb.RequestAnalysisRequest(
        session=session, up_to_sequence=4, trigger_id="seq-4"))).analysis
    assert early.suggestions
    for suggestion in early.suggestions:
        assert suggestion.cited_sequences and set(suggestion.cited_sequences) <= {1, 2, 3, 4}
        assert any(quote(said[sequence]) in suggestion.text for sequence in suggestion.cited_sequences)
    (curveball,) = [s for s in early.suggestions if s.type == pb.SUGGESTION_TYPE_CURVEBALL]
    assert f'"{OBJECTIONS[0]}"' in curveball.text  # the persona's own objection, at the opening

    applied = (await analyses.ApplySuggestion(pb.ApplySuggestionRequest(name=curveball.name))).suggestion
    followup = next(s for s in early.suggestions if s.type == pb.SUGGESTION_TYPE_FOLLOWUP_QUESTION)
    dismissed = (await analyses.DismissSuggestion(pb.DismissSuggestionRequest(name=followup.name))).suggestion
    assert applied.state == pb.SUGGESTION_STATE_APPLIED and dismissed.state == pb.SUGGESTION_STATE_DISMISSED

    later = (await analyses.RequestAnalysis(pb.RequestAnalysisRequest(
        session=session, up_to_sequence=14, trigger_id="seq-14"))).analysis
    labels = {s.label for s in later.suggestions}
    assert applied.label not in labels and dismissed.label not in labels
    for suggestion in later.suggestions:
        assert set(suggestion.cited_sequences) <= set(range(1, 15))
        assert any(quote(said[sequence]) in suggestion.text for sequence in suggestion.cited_sequences)
    reward = next(s for s in later.suggestions if s.label.startswith("Reward"))
    assert reward.label == "Reward cost savings"  # said at 9 and 13, where time savings was said once
    (middle_curveball,) = [s for s in later.suggestions if s.type == pb.SUGGESTION_TYPE_CURVEBALL]
    assert middle_curveball.label != curveball.label

    everything = (await analyses.ListSuggestions(pb.ListSuggestionsRequest(parent=session))).suggestions
    assert len({s.label for s in everything}) == len(everything)  # no suggestion is made twice
    assert all(s.cited_sequences for s in everything)


def _lookups(result: str) -> float:
    return metric("sparring_analysis_call_context_lookups_total", result=result)


async def test_a_sessions_persona_and_scenario_are_read_once_and_a_persona_service_down_leaves_the_tracks_own(
        personas, persona_server, transcript_server, transcripts):
    session_id = session_id_of(await _played_call(personas, transcripts))
    expected = CallContext(tuple(OBJECTIONS), tuple(PAIN_POINTS), "$40k-$90k per year", "decision by end of Q2")
    link = service_link(transcript_server, "analysis")
    reader = TranscriptReader(link, timeout_seconds=5)
    contexts = CallContexts(reader, service_link(persona_server, "analysis"), 5, max_entries=10)
    down = CallContexts(reader, service_link(f"127.0.0.1:{free_port()}", "analysis"), 5, max_entries=10)
    try:
        misses, hits, unavailable = _lookups("miss"), _lookups("hit"), _lookups("unavailable")
        assert await contexts.context(ORGANIZATION, session_id) == expected
        assert await contexts.context(ORGANIZATION, session_id) == expected
        assert (_lookups("miss"), _lookups("hit")) == (misses + 1, hits + 1)
        for _ in range(2):  # not kept: the next reading asks again
            assert await down.context(ORGANIZATION, session_id) == NO_CONTEXT
        assert _lookups("unavailable") == unavailable + 2
    finally:
        await contexts.close()
        await down.close()
        await link.close()


async def test_sessions_of_one_persona_and_scenario_share_their_context_and_a_window_naming_them_reads_no_session(
        personas, persona_server, transcripts):
    session = await _played_call(personas, transcripts)
    got = (await transcripts.GetSession(transcript_pb.GetSessionRequest(name=session))).session
    expected = CallContext(tuple(OBJECTIONS), tuple(PAIN_POINTS), "$40k-$90k per year", "decision by end of Q2")
    window = Window("sales", 14, (), got.persona, got.scenario)
    # No transcript service to read a session from: any read of one would leave the context empty.
    nowhere = service_link(f"127.0.0.1:{free_port()}", "analysis")
    contexts = CallContexts(TranscriptReader(nowhere, timeout_seconds=5), service_link(persona_server, "analysis"), 5,
                            max_entries=10)
    try:
        misses, hits = _lookups("miss"), _lookups("hit")
        assert await contexts.context(ORGANIZATION, session_id_of(session), window) == expected
        assert await contexts.context(ORGANIZATION, "another-session", window) == expected  # the same cast
        assert (_lookups("miss"), _lookups("hit")) == (misses + 1, hits + 1)
    finally:
        await contexts.close()
        await nowhere.close()
