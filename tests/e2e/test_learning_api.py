"""LearningService over real gRPC: the audits corpus, prompt patches, feedback, learning runs, experiments,
and every bad input answered with a clear status that changes nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import timestamp_pb2
from sparring.audit.v1 import audit_pb2
from sparring.learning.v1 import learning_service_pb2 as pb
from sparring.learning.v1.learning_service_pb2_grpc import LearningServiceStub

from tests.e2e.status_details import reason_and_fields
from tests.security import token


async def _refused(call, code: grpc.StatusCode) -> tuple[str, list[str]]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()
    return reason_and_fields(caught.value)


def _stamp(when: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


# What the candidate said before the flagged persona turn of every audit here.
CANDIDATE_LINE = "How do you close the books each quarter today?"


def audit(persona: str = "personas/quiet-quinn", archetype: str = "archetypes/owl", difficulty: int = 4,
          words: float = 24.0, when: datetime | None = None, **scores) -> pb.CorpusAudit:
    values = {"brevity": 3, "authenticity": 8, "consistency": 8, "enthusiasm_leak": 9, "pacing": 7, **scores}
    return pb.CorpusAudit(
        source_audit=f"audits/{uuid.uuid4()}", session=f"sessions/{uuid.uuid4()}", persona=persona,
        persona_display_name="Quinn", archetype=archetype, difficulty=difficulty,
        scores=audit_pb2.AuditScores(**values), overall_score=sum(values.values()) / 5, avg_words_per_turn=words,
        target_words_per_turn=audit_pb2.WordRange(min_words=8, max_words=16), persona_turn_count=6,
        flagged_quotes=[audit_pb2.FlaggedQuote(text="Well, let me explain everything about our setup in detail...",
                                               reason=audit_pb2.FLAG_REASON_TOO_LONG,
                                               explanation="31 words; target 8-16", sequence=4,
                                               candidate_text=CANDIDATE_LINE)],
        recommendations=["Keep answers to 8-16 words until the candidate earns more."],
        audit_time=_stamp(when or datetime.now(UTC)),
    )


def first_answer_flagged(persona: str, archetype: str, difficulty: int, reason: audit_pb2.FlagReason.ValueType,
                         text: str, explanation: str) -> pb.CorpusAudit:
    """An audit whose one flagged quote is the persona's first answer, ``text``, flagged for ``reason``."""
    flagged = audit(persona=persona, archetype=archetype, difficulty=difficulty, words=8.0)
    del flagged.flagged_quotes[:]
    flagged.flagged_quotes.append(audit_pb2.FlaggedQuote(text=text, reason=reason, sequence=2,
                                                         candidate_text=CANDIDATE_LINE, explanation=explanation))
    return flagged


def budget_given_first(persona: str, giveaway: str) -> pb.CorpusAudit:
    """A difficulty-5 bear's audit flagged for the budget it gave (``giveaway``) in its first answer."""
    return first_answer_flagged(persona, "archetypes/bear", 5, audit_pb2.FLAG_REASON_EARLY_DISCLOSURE, giveaway,
                                "Gives its budget before the candidate earned it (difficulty 5)")


# --- audits corpus ---------------------------------------------------------------------------------


async def test_an_audit_is_recorded_once_and_makes_one_training_event(learnings):
    sent = audit(persona="personas/corpus-once")
    first = await learnings.RecordCorpusAudit(pb.RecordCorpusAuditRequest(audit=sent))
    again = await learnings.RecordCorpusAudit(pb.RecordCorpusAuditRequest(audit=sent))
    assert not first.duplicate and again.duplicate
    assert first.audit.name == sent.source_audit.replace("audits/", "corpusAudits/", 1)
    assert first.audit.source_audit == sent.source_audit and again.audit == first.audit
    assert first.audit.scores == sent.scores and first.audit.flagged_quotes == sent.flagged_quotes
    assert first.audit.HasField("record_time")
    fetched = await learnings.GetCorpusAudit(pb.GetCorpusAuditRequest(name=first.audit.name))
    assert fetched.audit == first.audit
    # The analysis service's name for the audit is not a name in the corpus.
    await _refused(learnings.GetCorpusAudit(pb.GetCorpusAuditRequest(name=sent.source_audit)),
                   grpc.StatusCode.INVALID_ARGUMENT)
    events = await learnings.ListTrainingEvents(pb.ListTrainingEventsRequest(persona="personas/corpus-once"))
    assert [(e.source, e.origin, e.module) for e in events.events] == [
        (pb.TRAINING_EVENT_SOURCE_PERSONA_AUDIT, first.audit.name, "brevity")]
    # Brevity 3/10 is bad news for brevity, although the call scored 7.0 overall.
    assert events.events[0].signal == pytest.approx((3 - 5.5) / 4.5, abs=1e-3) and not events.events[0].processed


async def test_audits_are_queried_by_archetype_difficulty_persona_and_time(learnings):
    persona = f"personas/q-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    sent = [audit(persona=persona, archetype="archetypes/owl", difficulty=4, when=now - timedelta(hours=3)),
            audit(persona=persona, archetype="archetypes/owl", difficulty=2, when=now - timedelta(hours=2)),
            audit(persona=persona, archetype="archetypes/lamb", difficulty=4, when=now - timedelta(hours=1))]
    for item in sent:
        await learnings.RecordCorpusAudit(pb.RecordCorpusAuditRequest(audit=item))

    async def sources(**filters) -> list[str]:
        reply = await learnings.ListCorpusAudits(pb.ListCorpusAuditsRequest(persona=persona, **filters))
        return [a.source_audit for a in reply.audits]

    assert await sources() == [sent[2].source_audit, sent[1].source_audit, sent[0].source_audit]
    assert await sources(archetype="archetypes/owl") == [sent[1].source_audit, sent[0].source_audit]
    assert await sources(difficulty=4) == [sent[2].source_audit, sent[0].source_audit]
    assert await sources(audit_time_from=_stamp(now - timedelta(hours=2, minutes=30)),
                       audit_time_to=_stamp(now - timedelta(minutes=90))) == [sent[1].source_audit]
    first = await learnings.ListCorpusAudits(pb.ListCorpusAuditsRequest(persona=persona, page_size=2))
    rest = await learnings.ListCorpusAudits(pb.ListCorpusAuditsRequest(persona=persona, page_size=2,
                                                                         page_token=first.next_page_token))
    assert [a.source_audit for a in [*first.audits, *rest.audits]] == await sources() and not rest.next_page_token


async def test_a_bad_audit_names_every_bad_field_and_stores_nothing(learnings):
    bad = audit(persona="not-a-persona", difficulty=9, brevity=11)
    bad.ClearField("audit_time")
    _, fields = await _refused(learnings.RecordCorpusAudit(pb.RecordCorpusAuditRequest(audit=bad)),
                               grpc.StatusCode.INVALID_ARGUMENT)
    assert {"audit.persona", "audit.difficulty", "audit.scores.brevity", "audit.audit_time"} <= set(fields)
    unstored = bad.source_audit.replace("audits/", "corpusAudits/", 1)
    await _refused(learnings.GetCorpusAudit(pb.GetCorpusAuditRequest(name=unstored)), grpc.StatusCode.NOT_FOUND)


# --- prompt patches --------------------------------------------------------------------------------


def length_patch(archetype: str, low: int, high: int) -> pb.PromptPatch:
    return pb.PromptPatch(archetype=archetype, target=pb.PATCH_TARGET_VOICE_PROMPT,
                          operation=pb.PATCH_OPERATION_CHANGE_LENGTH_RANGE,
                          text=f"Keep every answer to {low}-{high} words.",
                          words_per_turn=audit_pb2.WordRange(min_words=low, max_words=high))


async def test_a_patch_goes_through_its_lifecycle_and_every_change_is_kept(learnings, connect, learning_server):
    as_dana = LearningServiceStub(connect(learning_server, token("admin", subject="dana@sparring.dev")))
    first = (await as_dana.CreatePromptPatch(pb.CreatePromptPatchRequest(
        patch=length_patch("archetypes/owl", 8, 12)))).patch
    assert (first.state, first.origin, first.validated, first.revision) == (
        pb.PATCH_STATE_PROPOSED, pb.PATCH_ORIGIN_MANUAL, False, 1)
    first = (await as_dana.ApprovePromptPatch(pb.ApprovePromptPatchRequest(
        name=first.name, etag=first.etag, comment="looks right"))).patch
    assert first.state == pb.PATCH_STATE_ACTIVE and first.HasField("activate_time")

    second = (await learnings.CreatePromptPatch(pb.CreatePromptPatchRequest(
        patch=length_patch("archetypes/owl", 6, 10)))).patch
    second = (await learnings.ApprovePromptPatch(pb.ApprovePromptPatchRequest(name=second.name))).patch
    assert second.supersedes == first.name
    replaced = (await learnings.GetPromptPatch(pb.GetPromptPatchRequest(name=first.name))).patch
    assert (replaced.state, replaced.superseded_by) == (pb.PATCH_STATE_SUPERSEDED, second.name)
    active = await learnings.ListActivePatches(pb.ListActivePatchesRequest(archetype="archetypes/owl"))
    assert second.name in [p.name for p in active.patches] and first.name not in [p.name for p in active.patches]

    rolled = await learnings.RollbackPromptPatch(pb.RollbackPromptPatchRequest(name=second.name, reason="too short"))
    assert rolled.patch.state == pb.PATCH_STATE_ROLLED_BACK
    assert (rolled.restored_patch.name, rolled.restored_patch.state) == (first.name, pb.PATCH_STATE_ACTIVE)
    after = await learnings.ListActivePatches(pb.ListActivePatchesRequest(archetype="archetypes/owl"))
    assert after.active_set_etag != active.active_set_etag

    revisions = await learnings.ListPromptPatchRevisions(pb.ListPromptPatchRevisionsRequest(parent=first.name))
    assert [(r.revision, r.action) for r in revisions.revisions] == [
        (4, pb.PATCH_ACTION_RESTORE), (3, pb.PATCH_ACTION_SUPERSEDE), (2, pb.PATCH_ACTION_APPROVE),
        (1, pb.PATCH_ACTION_CREATE)]
    assert revisions.revisions[2].actor == "dana@sparring.dev" and revisions.revisions[2].reason == "looks right"
    assert revisions.revisions[0].snapshot.state == pb.PATCH_STATE_ACTIVE

    await _refused(learnings.RollbackPromptPatch(pb.RollbackPromptPatchRequest(name=second.name)),
                   grpc.StatusCode.FAILED_PRECONDITION)
    deactivated = (await learnings.DeactivatePromptPatch(pb.DeactivatePromptPatchRequest(name=first.name))).patch
    assert deactivated.state == pb.PATCH_STATE_DEACTIVATED
    again = (await learnings.DeactivatePromptPatch(pb.DeactivatePromptPatchRequest(name=first.name))).patch
    assert again == deactivated


async def test_active_patches_come_all_archetypes_first_then_the_archetypes_own(learnings):
    archetype = "archetypes/fox"
    own = (await learnings.CreatePromptPatch(pb.CreatePromptPatchRequest(patch=pb.PromptPatch(
        archetype=archetype, target=pb.PATCH_TARGET_SYSTEM_PROMPT, operation=pb.PATCH_OPERATION_ADD_RULE,
        text="Answer a question with a question at most once per call.")))).patch
    everyone = (await learnings.CreatePromptPatch(pb.CreatePromptPatchRequest(patch=pb.PromptPatch(
        target=pb.PATCH_TARGET_VOICE_PROMPT, operation=pb.PATCH_OPERATION_BAN_PHRASE, phrase="as an AI",
        text="Never say 'as an AI'.")))).patch
    for patch in (own, everyone):
        await learnings.ApprovePromptPatch(pb.ApprovePromptPatchRequest(name=patch.name))
    reply = await learnings.ListActivePatches(pb.ListActivePatchesRequest(archetype=archetype))
    names = [p.name for p in reply.patches]
    assert names.index(everyone.name) < names.index(own.name)
    assert all(not p.archetype for p in reply.patches[:names.index(own.name)] if p.archetype == "")
    voice = await learnings.ListActivePatches(pb.ListActivePatchesRequest(
        archetype=archetype, targets=[pb.PATCH_TARGET_VOICE_PROMPT]))
    assert everyone.name in [p.name for p in voice.patches] and own.name not in [p.name for p in voice.patches]
    await learnings.DeactivatePromptPatch(pb.DeactivatePromptPatchRequest(name=everyone.name))


async def test_patches_are_listed_for_one_archetype_or_for_all_archetypes(learnings):
    own = (await learnings.CreatePromptPatch(pb.CreatePromptPatchRequest(
        patch=length_patch("archetypes/lamb", 6, 10)))).patch
    everyone = (await learnings.CreatePromptPatch(pb.CreatePromptPatchRequest(patch=length_patch("", 6, 10)))).patch

    async def listed(**filters) -> list[str]:
        return [p.name for p in (await learnings.ListPromptPatches(pb.ListPromptPatchesRequest(
            state=pb.PATCH_STATE_PROPOSED, page_size=200, **filters))).patches]

    for_all = await listed(all_archetypes=True)
    assert everyone.name in for_all and own.name not in for_all
    for_lamb = await listed(archetype="archetypes/lamb")
    assert own.name in for_lamb and everyone.name not in for_lamb
    assert {own.name, everyone.name} <= set(await listed())
    _, fields = await _refused(learnings.ListPromptPatches(pb.ListPromptPatchesRequest(
        archetype="archetypes/lamb", all_archetypes=True)), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["all_archetypes"]


async def test_patch_refusals_change_nothing(learnings):
    proposed = (await learnings.CreatePromptPatch(pb.CreatePromptPatchRequest(
        patch=length_patch("archetypes/owl", 9, 14)))).patch
    rejected = (await learnings.RejectPromptPatch(pb.RejectPromptPatchRequest(name=proposed.name,
                                                                             reason="wrong range"))).patch
    assert rejected.state == pb.PATCH_STATE_REJECTED
    reason, _ = await _refused(learnings.ApprovePromptPatch(pb.ApprovePromptPatchRequest(name=proposed.name)),
                               grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "PATCH_REJECTED"
    other = (await learnings.CreatePromptPatch(pb.CreatePromptPatchRequest(
        patch=length_patch("archetypes/owl", 9, 14)))).patch
    reason, _ = await _refused(learnings.ApprovePromptPatch(pb.ApprovePromptPatchRequest(
        name=other.name, etag="stale")), grpc.StatusCode.ABORTED)
    reason, _ = await _refused(learnings.DeactivatePromptPatch(pb.DeactivatePromptPatchRequest(name=other.name)),
                               grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "INVALID_PATCH_STATE"
    unchanged = (await learnings.GetPromptPatch(pb.GetPromptPatchRequest(name=other.name))).patch
    assert unchanged == other

    reason, fields = await _refused(learnings.CreatePromptPatch(pb.CreatePromptPatchRequest(
        patch=length_patch("archetypes/no-such-archetype", 8, 12))), grpc.StatusCode.INVALID_ARGUMENT)
    assert (reason, fields) == ("UNKNOWN_ARCHETYPE", ["patch.archetype"])
    _, fields = await _refused(learnings.CreatePromptPatch(pb.CreatePromptPatchRequest(patch=pb.PromptPatch(
        text="x"))), grpc.StatusCode.INVALID_ARGUMENT)
    assert {"patch.target", "patch.operation"} <= set(fields)
    _, fields = await _refused(learnings.CreatePromptPatch(pb.CreatePromptPatchRequest(
        patch=length_patch("archetypes/owl", 12, 8))), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["patch.words_per_turn"]
    listed = await learnings.ListPromptPatches(pb.ListPromptPatchesRequest(state=pb.PATCH_STATE_REJECTED))
    assert proposed.name in [p.name for p in listed.patches]


async def test_a_retried_create_with_the_same_request_id_makes_one_patch(learnings):
    request = pb.CreatePromptPatchRequest(patch=length_patch("archetypes/owl", 7, 11), request_id=str(uuid.uuid4()))
    first = (await learnings.CreatePromptPatch(request)).patch
    again = (await learnings.CreatePromptPatch(request)).patch
    assert first == again


# --- feedback and learning runs --------------------------------------------------------------------


async def test_feedback_is_idempotent_on_its_trace_and_refuses_a_score_out_of_range(learnings):
    trace = f"trace-{uuid.uuid4().hex}"
    feedback = pb.Feedback(trace_id=trace, score=-1, reason="incorrect", persona="personas/marcus-bell",
                           intent_label="factual_with_evidence")
    first = await learnings.RecordFeedback(pb.RecordFeedbackRequest(feedback=feedback))
    feedback.score = 1
    again = await learnings.RecordFeedback(pb.RecordFeedbackRequest(feedback=feedback))
    assert (first.duplicate, again.duplicate) == (False, True) and again.feedback == first.feedback
    assert first.feedback.score == -1 and first.feedback.training_event.startswith("trainingEvents/")
    fetched = await learnings.GetFeedback(pb.GetFeedbackRequest(name=f"feedback/{trace}"))
    assert fetched.feedback == first.feedback
    _, fields = await _refused(learnings.RecordFeedback(pb.RecordFeedbackRequest(feedback=pb.Feedback(
        trace_id=f"trace-{uuid.uuid4().hex}", score=1.5, persona="personas/marcus-bell"))),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["feedback.score"]


async def test_feedback_on_an_unknown_or_deleted_persona_is_refused_and_not_recorded(learnings, deleted_persona):
    for persona, code, reason in (("personas/no-such-persona", grpc.StatusCode.NOT_FOUND, "PERSONA_NOT_FOUND"),
                                  (deleted_persona, grpc.StatusCode.FAILED_PRECONDITION, "PERSONA_DELETED")):
        trace = f"trace-{uuid.uuid4().hex}"
        refused, _ = await _refused(learnings.RecordFeedback(pb.RecordFeedbackRequest(feedback=pb.Feedback(
            trace_id=trace, score=1, persona=persona))), code)
        assert refused == reason
        missing, _ = await _refused(learnings.GetFeedback(pb.GetFeedbackRequest(name=f"feedback/{trace}")),
                                    grpc.StatusCode.NOT_FOUND)
        assert missing == "FEEDBACK_NOT_FOUND"


async def test_a_learning_run_folds_events_into_modules_and_holds_without_auto_publish(learnings, finished_runs):
    persona = "personas/priya-raman"
    for score in (-1, -1, 1):
        await learnings.RecordFeedback(pb.RecordFeedbackRequest(feedback=pb.Feedback(
            trace_id=f"t-{uuid.uuid4().hex}", score=score, persona=persona, intent_label="factual_with_evidence")))
    run = (await learnings.CreateLearningRun(pb.CreateLearningRunRequest(
        learning_run=pb.LearningRun(persona=persona)))).learning_run
    assert run.state == pb.RUN_STATE_QUEUED and run.trigger == pb.RUN_TRIGGER_MANUAL
    assert await finished_runs(run.name) == "RUN_STATE_SUCCEEDED"
    done = (await learnings.GetLearningRun(pb.GetLearningRunRequest(name=run.name))).learning_run
    assert done.events_scanned == done.events_processed >= 3
    update = next(u for u in done.module_updates if u.module == "factual_with_evidence")
    assert update.confidence < 0.5 and update.status == pb.MODULE_STATUS_HELD
    assert done.decision == pb.PUBLISH_DECISION_HELD and done.gate_passed and done.gate.simulated_calls > 0
    processed = await learnings.ListTrainingEvents(pb.ListTrainingEventsRequest(learning_run=run.name))
    assert len(processed.events) == done.events_processed and all(e.processed for e in processed.events)


async def test_a_run_for_all_personas_is_listed_in_the_all_scope(learnings, finished_runs):
    # Scope conflicts are tested on the queue itself (tests/integration/test_learning_runs.py), where no worker
    # can finish the first run before the second start arrives.
    everyone = (await learnings.CreateLearningRun(pb.CreateLearningRunRequest(
        learning_run=pb.LearningRun()))).learning_run
    assert await finished_runs(everyone.name) == "RUN_STATE_SUCCEEDED"
    listed = await learnings.ListLearningRuns(pb.ListLearningRunsRequest(all_personas=True))
    assert everyone.name in [r.name for r in listed.learning_runs] and all(not r.persona for r in listed.learning_runs)
    mine = await learnings.ListLearningRuns(pb.ListLearningRunsRequest(persona="personas/priya-raman"))
    assert everyone.name not in [r.name for r in mine.learning_runs]
    _, fields = await _refused(learnings.ListLearningRuns(pb.ListLearningRunsRequest(persona="all")),
                               grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["persona"]
    _, fields = await _refused(learnings.ListLearningRuns(pb.ListLearningRunsRequest(
        persona="personas/priya-raman", all_personas=True)), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["all_personas"]


async def test_an_evolution_run_with_nothing_to_learn_skips_the_later_stages(learnings, finished_runs):
    run = (await learnings.CreateEvolutionRun(pb.CreateEvolutionRunRequest(run=pb.EvolutionRun(
        archetype="archetypes/bear", options=pb.EvolutionOptions(min_audits=1000))))).run
    assert run.options.min_audits == 1000 and run.options.simulated_calls == 12  # defaults filled in
    assert await finished_runs(run.name) == "RUN_STATE_SUCCEEDED"
    done = (await learnings.GetEvolutionRun(pb.GetEvolutionRunRequest(name=run.name))).run
    assert done.analyze_corpus.status.state == done.identify_patterns.status.state == pb.STAGE_STATE_SUCCEEDED
    assert not done.identify_patterns.findings
    assert {done.generate_refinements.status.state, done.validate.status.state, done.apply.status.state} == {
        pb.STAGE_STATE_SKIPPED}
    bears = await learnings.ListEvolutionRuns(pb.ListEvolutionRunsRequest(archetype="archetypes/bear"))
    assert run.name in [r.name for r in bears.runs]
    everything = await learnings.ListEvolutionRuns(pb.ListEvolutionRunsRequest(all_archetypes=True))
    assert run.name not in [r.name for r in everything.runs] and all(not r.archetype for r in everything.runs)
    reason, fields = await _refused(learnings.CreateEvolutionRun(pb.CreateEvolutionRunRequest(
        run=pb.EvolutionRun(archetype="archetypes/unicorn"))), grpc.StatusCode.INVALID_ARGUMENT)
    assert (reason, fields) == ("UNKNOWN_ARCHETYPE", ["run.archetype"])
    _, fields = await _refused(learnings.CreateEvolutionRun(pb.CreateEvolutionRunRequest(run=pb.EvolutionRun(
        options=pb.EvolutionOptions(simulated_calls=41, audit_limit=-1)))), grpc.StatusCode.INVALID_ARGUMENT)
    assert set(fields) == {"run.options.simulated_calls", "run.options.audit_limit"}


# --- experiments -----------------------------------------------------------------------------------


def experiment(*shares: int, metric=pb.EXPERIMENT_METRIC_SAY_METER_SCORE, **fields) -> pb.Experiment:
    personas = ["personas/priya-raman", "personas/sarah-chen", "personas/priya-raman"]
    return pb.Experiment(display_name="Shorter answers", metric=metric, variants=[
        pb.Variant(variant_id=f"v{i}", persona=personas[i], traffic_bps=share, control=i == 0)
        for i, share in enumerate(shares)], **fields)


async def test_traffic_shares_must_sum_to_100_percent(learnings):
    reason, fields = await _refused(learnings.CreateExperiment(pb.CreateExperimentRequest(
        experiment=experiment(5000, 4000))), grpc.StatusCode.INVALID_ARGUMENT)
    assert reason == "TRAFFIC_NOT_100_PERCENT" and fields == ["experiment.variants"]


async def test_a_session_always_gets_the_same_variant_and_outcomes_need_an_assignment(learnings):
    request = pb.CreateExperimentRequest(experiment=experiment(5000, 5000))
    created = (await learnings.CreateExperiment(request)).experiment
    assert created.state == pb.EXPERIMENT_STATE_RUNNING and len(created.results) == 2
    session = f"sessions/{uuid.uuid4()}"
    first = (await learnings.AssignVariant(pb.AssignVariantRequest(experiment=created.name, session=session)))
    again = (await learnings.AssignVariant(pb.AssignVariantRequest(experiment=created.name, session=session)))
    assert first.assignment == again.assignment and first.assignment.variant_id in ("v0", "v1")
    reason, _ = await _refused(learnings.RecordExperimentOutcome(pb.RecordExperimentOutcomeRequest(
        experiment=created.name, session=f"sessions/{uuid.uuid4()}", say_meter_score=70)),
        grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "SESSION_NOT_ASSIGNED"
    recorded = await learnings.RecordExperimentOutcome(pb.RecordExperimentOutcomeRequest(
        experiment=created.name, session=session, say_meter_score=70))
    repeat = await learnings.RecordExperimentOutcome(pb.RecordExperimentOutcomeRequest(
        experiment=created.name, session=session, say_meter_score=10))
    assert not recorded.duplicate and repeat.duplicate
    result = next(r for r in repeat.experiment.results if r.variant_id == first.assignment.variant_id)
    assert (result.samples, result.mean) == (1, 70.0)
    stopped = (await learnings.StopExperiment(pb.StopExperimentRequest(name=created.name, reason="enough"))).experiment
    assert (stopped.state, stopped.stop_reason) == (pb.EXPERIMENT_STATE_STOPPED, "enough")
    late = f"sessions/{uuid.uuid4()}"
    assert (await learnings.AssignVariant(pb.AssignVariantRequest(experiment=created.name, session=late))
            ).assignment.variant_id == "v0"


async def test_a_true_winner_is_promoted_and_new_sessions_get_it(learnings):
    created = (await learnings.CreateExperiment(pb.CreateExperimentRequest(
        experiment=experiment(5000, 5000, min_samples=10)))).experiment
    state, n = created, 0
    while state.state == pb.EXPERIMENT_STATE_RUNNING and n < 400:
        session = f"sessions/s{n}-{uuid.uuid4().hex[:6]}"
        n += 1
        variant = (await learnings.AssignVariant(pb.AssignVariantRequest(experiment=created.name, session=session))
                   ).assignment.variant_id
        score = 80 + (n % 7) if variant == "v1" else 60 + (n % 7)  # v1 is 20 points better
        state = (await learnings.RecordExperimentOutcome(pb.RecordExperimentOutcomeRequest(
            experiment=created.name, session=session, say_meter_score=score))).experiment
    assert (state.state, state.winner_variant) == (pb.EXPERIMENT_STATE_PROMOTED, "v1")
    assert next(r for r in state.results if r.variant_id == "v1").status == pb.VARIANT_STATUS_PROMOTED
    newcomer = await learnings.AssignVariant(pb.AssignVariantRequest(experiment=created.name,
                                                                     session=f"sessions/{uuid.uuid4()}"))
    assert newcomer.assignment.variant_id == "v1"
    reason, _ = await _refused(learnings.StopExperiment(pb.StopExperimentRequest(name=created.name)),
                               grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "EXPERIMENT_ENDED"


async def test_an_audit_of_an_assigned_session_is_its_audit_score_outcome(learnings):
    created = (await learnings.CreateExperiment(pb.CreateExperimentRequest(experiment=experiment(
        5000, 5000, metric=pb.EXPERIMENT_METRIC_AUDIT_SCORE)))).experiment
    sent = audit(persona="personas/priya-raman", brevity=6)
    assignment = (await learnings.AssignVariant(pb.AssignVariantRequest(experiment=created.name,
                                                                        session=sent.session))).assignment
    await learnings.RecordCorpusAudit(pb.RecordCorpusAuditRequest(audit=sent))
    await learnings.RecordCorpusAudit(pb.RecordCorpusAuditRequest(audit=sent))  # a redelivery counts once
    results = (await learnings.GetExperiment(pb.GetExperimentRequest(name=created.name))).experiment.results
    result = next(r for r in results if r.variant_id == assignment.variant_id)
    assert (result.samples, result.mean) == (1, pytest.approx(sent.overall_score))


async def test_at_most_50_patches_are_active_per_archetype_and_target(learnings):
    def rule(n: int) -> pb.CreatePromptPatchRequest:
        return pb.CreatePromptPatchRequest(patch=pb.PromptPatch(
            archetype="archetypes/peacock", target=pb.PATCH_TARGET_ELEMENTAL_BEHAVIOR,
            operation=pb.PATCH_OPERATION_ADD_RULE, text=f"Rule number {n}."))

    approved = []
    for n in range(50):
        patch = (await learnings.CreatePromptPatch(rule(n))).patch
        approved.append((await learnings.ApprovePromptPatch(pb.ApprovePromptPatchRequest(name=patch.name))).patch)
    one_more = (await learnings.CreatePromptPatch(rule(50))).patch
    reason, _ = await _refused(learnings.ApprovePromptPatch(pb.ApprovePromptPatchRequest(name=one_more.name)),
                               grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "TOO_MANY_ACTIVE_PATCHES"
    assert (await learnings.GetPromptPatch(pb.GetPromptPatchRequest(name=one_more.name))).patch == one_more
    for patch in approved:  # leaves the archetype as it found it
        await learnings.DeactivatePromptPatch(pb.DeactivatePromptPatchRequest(name=patch.name))
