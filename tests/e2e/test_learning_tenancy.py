"""The learning service over real gRPC with callers of two organizations: every resource kind (corpus audits,
evolution and learning runs, prompt patches with their revisions and active sets, feedback, training events,
experiments with their assignments and outcomes) is seen and changed by its own organization only. Another
organization's resource is NOT_FOUND exactly as one that does not exist, lists leave it out, ids a caller chooses
are unique per organization, and a service acting for no organization sees nothing and creates nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest_asyncio
from sparring.learning.v1 import learning_service_pb2 as pb
from sparring.learning.v1.learning_service_pb2_grpc import LearningServiceStub
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.persona.v1.persona_service_pb2_grpc import PersonaServiceStub

from tests.builders import new_persona, uid
from tests.e2e.status_details import Rejection, rejected_in
from tests.e2e.test_learning_api import audit
from tests.security import ORGANIZATION, OTHER_ORGANIZATION, service_link, token

DOMAIN = "learning.sparring.dev"
NOT_FOUND = grpc.StatusCode.NOT_FOUND
# The organization a service names when it acts for none.
NO_ORGANIZATION = ""


@pytest_asyncio.fixture
async def globex(learning_server, connect) -> LearningServiceStub:
    """The learning service as an admin of the other organization calls it."""
    return LearningServiceStub(connect(learning_server, token("admin", organization=OTHER_ORGANIZATION)))


@pytest_asyncio.fixture
async def as_service(learning_server) -> AsyncIterator[Callable[[str, str], tuple[LearningServiceStub, dict]]]:
    """``stub, options = as_service(service, organization)``: calls of ``service`` acting for ``organization``."""
    links = []

    def acting(service: str, organization: str) -> tuple[LearningServiceStub, dict]:
        links.append(service_link(learning_server, service))
        return LearningServiceStub(links[-1].channel), links[-1].options(5.0, organization)

    yield acting
    for link in links:
        await link.close()


@pytest_asyncio.fixture
async def persona_in_both(persona_server, personas, connect) -> str:
    """A persona name held by both organizations."""
    persona_id = f"tenant-{uid()}"
    for stub in (personas, PersonaServiceStub(connect(persona_server, token("admin",
                                                                              organization=OTHER_ORGANIZATION)))):
        try:
            await stub.CreatePersona(persona_pb.CreatePersonaRequest(persona_id=persona_id, persona=new_persona()))
        except grpc.aio.AioRpcError as error:  # a persona service that keeps one catalogue for everyone
            assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    return f"personas/{persona_id}"


def _shape(rejection: Rejection, name: str) -> tuple:
    """What a refusal says, with the name it was asked about taken out."""
    metadata = {key: value.replace(name, "{name}") for key, value in rejection.info.metadata.items()}
    return (rejection.status.code, rejection.status.message.replace(name, "{name}"), rejection.info.reason,
            rejection.info.domain, metadata, rejection.violations, len(rejection.status.details))


async def not_found_as_if_missing(call: Callable[[str], Awaitable], name: str, missing: str) -> None:
    """``call(name)``, on another organization's resource, is refused exactly as ``call(missing)``, on a name
    nobody holds."""
    theirs = await rejected_in(DOMAIN, call(name), NOT_FOUND)
    nobody = await rejected_in(DOMAIN, call(missing), NOT_FOUND)
    assert _shape(theirs, name) == _shape(nobody, missing)


def _missing(name: str) -> str:
    """A name of the same collection and length that nobody holds."""
    collection, _, resource_id = name.rpartition("/")
    return f"{collection}/{uuid.uuid4().hex[:len(resource_id)].ljust(len(resource_id), 'x')}"


async def test_corpus_audits_are_recorded_and_read_per_organization(learnings, globex, as_service):
    persona = f"personas/t-{uid()}"
    sent = audit(persona=persona)
    analysis_acme, acme_options = as_service("analysis", ORGANIZATION)
    analysis_globex, globex_options = as_service("analysis", OTHER_ORGANIZATION)
    ours = await analysis_acme.RecordCorpusAudit(pb.RecordCorpusAuditRequest(audit=sent), **acme_options)
    elsewhere_sent = audit(persona=f"personas/t-{uid()}")
    elsewhere_sent.source_audit = sent.source_audit  # the same analysis audit id, in the other organization
    theirs = await analysis_globex.RecordCorpusAudit(pb.RecordCorpusAuditRequest(audit=elsewhere_sent),
                                                     **globex_options)
    assert not ours.duplicate and not theirs.duplicate and ours.audit.name == theirs.audit.name
    assert (await learnings.GetCorpusAudit(pb.GetCorpusAuditRequest(name=ours.audit.name))).audit == ours.audit
    assert (await globex.GetCorpusAudit(pb.GetCorpusAuditRequest(name=ours.audit.name))).audit == theirs.audit

    only_ours = (await analysis_acme.RecordCorpusAudit(pb.RecordCorpusAuditRequest(audit=audit(persona=persona)),
                                                       **acme_options)).audit
    await not_found_as_if_missing(lambda name: globex.GetCorpusAudit(pb.GetCorpusAuditRequest(name=name)),
                                  only_ours.name, _missing(only_ours.name))
    assert not (await globex.ListCorpusAudits(pb.ListCorpusAuditsRequest(persona=persona))).audits
    assert len((await learnings.ListCorpusAudits(pb.ListCorpusAuditsRequest(persona=persona))).audits) == 2
    assert not (await globex.ListTrainingEvents(pb.ListTrainingEventsRequest(persona=persona))).events
    assert len((await learnings.ListTrainingEvents(pb.ListTrainingEventsRequest(persona=persona))).events) == 2


async def test_prompt_patches_their_revisions_and_active_sets_are_per_organization(learnings, globex, as_service):
    patch_id = f"t-{uid()}"
    change = pb.PromptPatch(target=pb.PATCH_TARGET_VOICE_PROMPT, operation=pb.PATCH_OPERATION_BAN_PHRASE,
                            phrase=f"zx-{patch_id}", text=f"Never say zx-{patch_id}.")
    name = f"patches/{patch_id}"

    def refused_to_globex(name: str) -> list[Awaitable]:
        return [globex.GetPromptPatch(pb.GetPromptPatchRequest(name=name)),
                globex.ApprovePromptPatch(pb.ApprovePromptPatchRequest(name=name)),
                globex.RejectPromptPatch(pb.RejectPromptPatchRequest(name=name)),
                globex.DeactivatePromptPatch(pb.DeactivatePromptPatchRequest(name=name)),
                globex.RollbackPromptPatch(pb.RollbackPromptPatchRequest(name=name)),
                globex.ListPromptPatchRevisions(pb.ListPromptPatchRevisionsRequest(parent=name))]

    before = [await rejected_in(DOMAIN, call, NOT_FOUND) for call in refused_to_globex(name)]
    ours = (await learnings.CreatePromptPatch(pb.CreatePromptPatchRequest(patch_id=patch_id, patch=change))).patch
    after = [await rejected_in(DOMAIN, call, NOT_FOUND) for call in refused_to_globex(name)]
    assert [_shape(r, name) for r in after] == [_shape(r, name) for r in before]
    assert (await learnings.GetPromptPatch(pb.GetPromptPatchRequest(name=name))).patch == ours  # unchanged
    assert name not in [p.name for p in (await globex.ListPromptPatches(pb.ListPromptPatchesRequest(
        page_size=1000))).patches]

    theirs = (await globex.CreatePromptPatch(pb.CreatePromptPatchRequest(patch_id=patch_id, patch=change))).patch
    assert theirs.name == ours.name
    approved = (await learnings.ApprovePromptPatch(pb.ApprovePromptPatchRequest(name=name, etag=ours.etag))).patch
    assert (await globex.GetPromptPatch(pb.GetPromptPatchRequest(name=name))).patch == theirs  # still proposed
    revisions = (await learnings.ListPromptPatchRevisions(pb.ListPromptPatchRevisionsRequest(parent=name))).revisions
    assert [(r.action, r.actor) for r in revisions] == [(pb.PATCH_ACTION_APPROVE, f"admin@{ORGANIZATION}"),
                                                        (pb.PATCH_ACTION_CREATE, f"admin@{ORGANIZATION}")]
    assert len((await globex.ListPromptPatchRevisions(pb.ListPromptPatchRevisionsRequest(parent=name))).revisions) == 1

    # The persona service reads the active set of the organization it renders for.
    persona_service, acme_options = as_service("persona", ORGANIZATION)
    _, globex_options = as_service("persona", OTHER_ORGANIZATION)
    _, nobody_options = as_service("persona", NO_ORGANIZATION)
    request = pb.ListActivePatchesRequest(archetype="archetypes/owl")
    acme_set = await persona_service.ListActivePatches(request, **acme_options)
    globex_set = await persona_service.ListActivePatches(request, **globex_options)
    assert approved in acme_set.patches and name not in [p.name for p in globex_set.patches]
    assert acme_set.active_set_etag != globex_set.active_set_etag
    assert not (await persona_service.ListActivePatches(request, **nobody_options)).patches
    await learnings.DeactivatePromptPatch(pb.DeactivatePromptPatchRequest(name=name))


async def test_a_request_id_is_one_organizations_own(learnings, globex):
    request = pb.CreatePromptPatchRequest(request_id=f"t-{uid()}", patch=pb.PromptPatch(
        target=pb.PATCH_TARGET_VOICE_PROMPT, operation=pb.PATCH_OPERATION_ADD_RULE, text="Answer briefly."))
    ours = (await learnings.CreatePromptPatch(request)).patch
    theirs = (await globex.CreatePromptPatch(request)).patch
    assert theirs.name != ours.name
    assert (await globex.CreatePromptPatch(request)).patch == theirs  # a retry in its own organization


async def test_feedback_training_events_and_learning_runs_are_per_organization(learnings, globex, persona_in_both,
                                                                              finished_runs):
    trace = f"trace-{uid()}"
    feedback = pb.Feedback(trace_id=trace, score=1, reason="correct", persona=persona_in_both)
    ours = await learnings.RecordFeedback(pb.RecordFeedbackRequest(feedback=feedback))
    theirs = await globex.RecordFeedback(pb.RecordFeedbackRequest(feedback=feedback))
    assert not ours.duplicate and not theirs.duplicate
    assert ours.feedback.training_event != theirs.feedback.training_event
    only_ours = (await learnings.RecordFeedback(pb.RecordFeedbackRequest(feedback=pb.Feedback(
        trace_id=f"trace-{uid()}", score=-1, reason="incorrect", persona=persona_in_both)))).feedback
    await not_found_as_if_missing(lambda name: globex.GetFeedback(pb.GetFeedbackRequest(name=name)),
                                  only_ours.name, _missing(only_ours.name))

    events = pb.ListTrainingEventsRequest(persona=persona_in_both)
    assert [e.name for e in (await globex.ListTrainingEvents(events)).events] == [theirs.feedback.training_event]
    assert len((await learnings.ListTrainingEvents(events)).events) == 2

    run = (await globex.CreateLearningRun(pb.CreateLearningRunRequest(
        learning_run=pb.LearningRun(persona=persona_in_both)))).learning_run
    assert await finished_runs(run.name) == "RUN_STATE_SUCCEEDED"
    done = (await globex.GetLearningRun(pb.GetLearningRunRequest(name=run.name))).learning_run
    assert (done.events_scanned, done.events_processed) == (1, 1)
    assert not any(e.processed for e in (await learnings.ListTrainingEvents(events)).events)
    await not_found_as_if_missing(lambda name: learnings.GetLearningRun(pb.GetLearningRunRequest(name=name)),
                                  run.name, _missing(run.name))
    assert run.name not in [r.name for r in (await learnings.ListLearningRuns(pb.ListLearningRunsRequest(
        persona=persona_in_both))).learning_runs]


async def test_an_evolution_run_reads_and_is_read_by_its_organization_only(learnings, globex, finished_runs):
    run = (await globex.CreateEvolutionRun(pb.CreateEvolutionRunRequest(run=pb.EvolutionRun()))).run
    assert await finished_runs(run.name) == "RUN_STATE_SUCCEEDED"
    done = (await globex.GetEvolutionRun(pb.GetEvolutionRunRequest(name=run.name))).run
    globex_audits = (await globex.ListCorpusAudits(pb.ListCorpusAuditsRequest(page_size=1000))).audits
    assert done.analyze_corpus.audit_count == len(globex_audits)
    await not_found_as_if_missing(lambda name: learnings.GetEvolutionRun(pb.GetEvolutionRunRequest(name=name)),
                                  run.name, _missing(run.name))
    assert run.name not in [r.name for r in (await learnings.ListEvolutionRuns(pb.ListEvolutionRunsRequest(
        page_size=1000))).runs]


async def test_experiments_their_assignments_and_outcomes_are_per_organization(learnings, globex, persona_in_both,
                                                                              as_service):
    experiment_id = f"t-{uid()}"
    experiment = pb.Experiment(display_name="Per organization", metric=pb.EXPERIMENT_METRIC_AUDIT_SCORE,
                               variants=[pb.Variant(variant_id="a", persona=persona_in_both, traffic_bps=5000,
                                                    control=True),
                                         pb.Variant(variant_id="b", persona=persona_in_both, traffic_bps=5000)])
    name = f"experiments/{experiment_id}"
    session = f"sessions/{uid()}"

    def refused_to_globex(name: str) -> list[Awaitable]:
        return [globex.GetExperiment(pb.GetExperimentRequest(name=name)),
                globex.AssignVariant(pb.AssignVariantRequest(experiment=name, session=session)),
                globex.RecordExperimentOutcome(pb.RecordExperimentOutcomeRequest(experiment=name, session=session,
                                                                                 say_meter_score=50)),
                globex.StopExperiment(pb.StopExperimentRequest(name=name))]

    before = [await rejected_in(DOMAIN, call, NOT_FOUND) for call in refused_to_globex(name)]
    ours = (await learnings.CreateExperiment(pb.CreateExperimentRequest(experiment_id=experiment_id,
                                                                        experiment=experiment))).experiment
    after = [await rejected_in(DOMAIN, call, NOT_FOUND) for call in refused_to_globex(name)]
    assert [_shape(r, name) for r in after] == [_shape(r, name) for r in before]
    assert name not in [e.name for e in (await globex.ListExperiments(pb.ListExperimentsRequest())).experiments]

    theirs = (await globex.CreateExperiment(pb.CreateExperimentRequest(experiment_id=experiment_id,
                                                                       experiment=experiment))).experiment
    assert theirs.name == ours.name
    await learnings.AssignVariant(pb.AssignVariantRequest(experiment=name, session=session))
    # The session is assigned in the first organization's experiment only.
    unassigned = await rejected_in(DOMAIN, globex.RecordExperimentOutcome(pb.RecordExperimentOutcomeRequest(
        experiment=name, session=session, say_meter_score=50)), grpc.StatusCode.FAILED_PRECONDITION)
    assert unassigned.reason == "SESSION_NOT_ASSIGNED"
    # Its audit, recorded for the other organization, is no outcome of the first one's experiment.
    analysis, options = as_service("analysis", OTHER_ORGANIZATION)
    sent = audit(persona=persona_in_both)
    sent.session = session
    await analysis.RecordCorpusAudit(pb.RecordCorpusAuditRequest(audit=sent), **options)
    assert (await learnings.GetExperiment(pb.GetExperimentRequest(name=name))).experiment == ours
    assert (await globex.GetExperiment(pb.GetExperimentRequest(name=name))).experiment == theirs


async def test_a_service_acting_for_no_organization_creates_nothing_and_sees_nothing(learnings, as_service):
    analysis, options = as_service("analysis", NO_ORGANIZATION)
    for call in (analysis.RecordCorpusAudit(pb.RecordCorpusAuditRequest(audit=audit()), **options),
                 analysis.AssignVariant(pb.AssignVariantRequest(experiment=f"experiments/{uid()}",
                                                                session=f"sessions/{uid()}"), **options),
                 analysis.RecordExperimentOutcome(pb.RecordExperimentOutcomeRequest(
                     experiment=f"experiments/{uid()}", session=f"sessions/{uid()}", say_meter_score=50),
                     **options)):
        refused = await rejected_in(DOMAIN, call, grpc.StatusCode.FAILED_PRECONDITION)
        assert refused.reason == "ORGANIZATION_REQUIRED"
