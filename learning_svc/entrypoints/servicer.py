"""LearningService over gRPC: requests checked and converted, use cases called, answers built."""

from __future__ import annotations

import math

import grpc
from sparring.learning.v1 import learning_service_pb2 as pb
from sparring.learning.v1 import learning_service_pb2_grpc

from learning_svc.domain.evolution import Engine
from learning_svc.domain.experiments import (
    ExperimentMetric,
    ExperimentSettings,
    TestMethod,
    Variant,
    traffic_total_violation,
    validate_experiment,
)
from learning_svc.domain.patches import PatchOperation, PatchTarget
from learning_svc.entrypoints import convert
from learning_svc.entrypoints.convert import (
    check_note,
    enum_name,
    message,
    optional_enum_name,
    optional_name,
    scope_filter,
)
from learning_svc.service_layer.corpus import Corpus
from learning_svc.service_layer.evolution import with_defaults
from learning_svc.service_layer.experiments import Experiments
from learning_svc.service_layer.patches import Patches, reached_change
from learning_svc.service_layer.ports import PersonaReader, RunKind
from learning_svc.service_layer.renderings import require_scenario
from learning_svc.service_layer.run_queue import RunQueue, RunTrigger
from svckit import names
from svckit.context import current_call
from svckit.errors import FieldViolation, InvalidArgument, Violations
from svckit.records import to_record
from svckit.times import time_of, timestamp
from svckit.usecase import mutation_of

SERVICE = pb.DESCRIPTOR.services_by_name["LearningService"]
MAX_EVENT_LIMIT = 100_000


def _patch_id(name: str, field: str = "name") -> str:
    return names.resource_id(name, "patches", field)


def _organization() -> str:
    """The organization the caller acts for: its own, or, for a service, the one it names."""
    return current_call().organization


def _notes(**fields: str) -> None:
    v = Violations()
    for field, value in fields.items():
        check_note(v, value, field)
    v.raise_if_any()


class LearningServicer(learning_service_pb2_grpc.LearningServiceServicer):
    def __init__(self, corpus: Corpus, patches: Patches, runs: RunQueue, experiments: Experiments,
                 personas: PersonaReader, openai_configured: bool, default_engine: Engine = Engine.LOCAL) -> None:
        self._corpus = corpus
        self._patches = patches
        self._runs = runs
        self._experiments = experiments
        self._personas = personas
        self._openai_configured = openai_configured
        self._default_engine = default_engine  # for runs that name no engine

    # --- audits -------------------------------------------------------------------------------

    async def RecordCorpusAudit(self, request: pb.RecordCorpusAuditRequest,
                                context: grpc.aio.ServicerContext) -> pb.RecordCorpusAuditResponse:
        source_id, stored = convert.audit_document(request.audit)
        final_say_meter = request.audit.final_say_meter_score if request.audit.HasField("final_say_meter_score") \
            else None
        # Before the audit, so that an audit announced as recorded has its outcomes in; also on a repeat: the
        # outcomes are idempotent, and a first attempt may have stopped before the audit.
        await self._experiments.record_audit_outcomes(_organization(),
                                                      request.audit.session.removeprefix("sessions/"),
                                                      request.audit.overall_score, final_say_meter)
        recorded = await self._corpus.record_audit(_organization(), source_id, stored)
        return pb.RecordCorpusAuditResponse(audit=message(pb.CorpusAudit, recorded.document),
                                             duplicate=recorded.duplicate)

    async def GetCorpusAudit(self, request: pb.GetCorpusAuditRequest,
                             context: grpc.aio.ServicerContext) -> pb.GetCorpusAuditResponse:
        audit = await self._corpus.get_audit(_organization(), names.resource_id(request.name, "corpusAudits", "name"))
        return pb.GetCorpusAuditResponse(audit=message(pb.CorpusAudit, audit))

    async def ListCorpusAudits(self, request: pb.ListCorpusAuditsRequest,
                               context: grpc.aio.ServicerContext) -> pb.ListCorpusAuditsResponse:
        v = Violations()
        v.require(0 <= request.difficulty <= 5, "difficulty", f"must be 0 (any) or 1 to 5 (got {request.difficulty})")
        filters = {
            "archetype": optional_name(request.archetype, "archetypes", "archetype") or None,
            "difficulty": request.difficulty or None,
            "persona": optional_name(request.persona, "personas", "persona") or None,
            "time_from": time_of(request.audit_time_from, "audit_time_from", v)
            if request.HasField("audit_time_from") else None,
            "time_to": time_of(request.audit_time_to, "audit_time_to", v)
            if request.HasField("audit_time_to") else None,
        }
        v.raise_if_any()
        page = await self._corpus.list_audits(_organization(), filters, request.page_size, request.page_token)
        return pb.ListCorpusAuditsResponse(audits=[message(pb.CorpusAudit, audit) for audit in page.items],
                                            next_page_token=page.next_page_token)

    # --- evolution runs -----------------------------------------------------------------------

    async def CreateEvolutionRun(self, request: pb.CreateEvolutionRunRequest,
                                 context: grpc.aio.ServicerContext) -> pb.CreateEvolutionRunResponse:
        archetype = optional_name(request.run.archetype, "archetypes", "run.archetype")
        options = convert.evolution_options(request.run.options, "run.options")
        options["engine"] = self._engine(request.run.options.engine, "run.options.engine")
        if archetype and not await self._personas.archetype_exists(archetype):
            raise InvalidArgument(FieldViolation("run.archetype", f"{archetype} is not known to the persona service"),
                                  reason="UNKNOWN_ARCHETYPE")
        await require_scenario(self._personas, options["scenario"])
        mutation = mutation_of(request)
        run = await self._runs.start(RunKind.EVOLUTION, mutation.caller.organization,
                                     {"archetype": archetype, "options": with_defaults(options)},
                                     RunTrigger.MANUAL, mutation)
        return pb.CreateEvolutionRunResponse(run=convert.evolution_run(run))

    async def GetEvolutionRun(self, request: pb.GetEvolutionRunRequest,
                              context: grpc.aio.ServicerContext) -> pb.GetEvolutionRunResponse:
        run = await self._runs.get(RunKind.EVOLUTION, _organization(),
                                   names.resource_id(request.name, "evolutionRuns", "name"))
        return pb.GetEvolutionRunResponse(run=convert.evolution_run(run))

    async def ListEvolutionRuns(self, request: pb.ListEvolutionRunsRequest,
                                context: grpc.aio.ServicerContext) -> pb.ListEvolutionRunsResponse:
        filters = {"scope": scope_filter(request, "archetype", "archetypes", "all_archetypes"),
                   "state": optional_enum_name(pb.RunState, request.state, "state")}
        page = await self._runs.list(RunKind.EVOLUTION, _organization(), filters, request.page_size, request.page_token)
        return pb.ListEvolutionRunsResponse(runs=[convert.evolution_run(run) for run in page.items],
                                            next_page_token=page.next_page_token)

    # --- prompt patches -----------------------------------------------------------------------

    async def CreatePromptPatch(self, request: pb.CreatePromptPatchRequest,
                                context: grpc.aio.ServicerContext) -> pb.CreatePromptPatchResponse:
        change = convert.patch_change(request.patch)
        if request.patch_id:
            v = Violations()
            names.check_resource_id(v, "patch_id", request.patch_id)
            v.raise_if_any()
        if change.archetype and not await self._personas.archetype_exists(change.archetype):
            raise InvalidArgument(FieldViolation("patch.archetype",
                                                 f"{change.archetype} is not known to the persona service"),
                                  reason="UNKNOWN_ARCHETYPE")
        if change.operation is PatchOperation.EDIT_PART:
            active = await self._patches.active_set(_organization(), change.archetype, ())
            change = await reached_change(change, self._personas, active, _organization())
        patch = await self._patches.create(request.patch_id, change, request.patch.motivation, mutation_of(request))
        return pb.CreatePromptPatchResponse(patch=message(pb.PromptPatch, patch))

    async def GetPromptPatch(self, request: pb.GetPromptPatchRequest,
                             context: grpc.aio.ServicerContext) -> pb.GetPromptPatchResponse:
        patch = await self._patches.get(_organization(), _patch_id(request.name))
        return pb.GetPromptPatchResponse(patch=message(pb.PromptPatch, patch))

    async def ListPromptPatches(self, request: pb.ListPromptPatchesRequest,
                                context: grpc.aio.ServicerContext) -> pb.ListPromptPatchesResponse:
        target = optional_enum_name(pb.PatchTarget, request.target, "target")
        state = optional_enum_name(pb.PatchState, request.state, "state")
        filters = {"archetype": scope_filter(request, "archetype", "archetypes", "all_archetypes"),
                   "target": target, "state": state,
                   "evolution_run": optional_name(request.evolution_run, "evolutionRuns", "evolution_run") or None}
        page = await self._patches.list(_organization(), filters, request.page_size, request.page_token)
        return pb.ListPromptPatchesResponse(patches=[message(pb.PromptPatch, p) for p in page.items],
                                            next_page_token=page.next_page_token)

    async def ApprovePromptPatch(self, request: pb.ApprovePromptPatchRequest,
                                 context: grpc.aio.ServicerContext) -> pb.ApprovePromptPatchResponse:
        patch_id = _patch_id(request.name)
        _notes(comment=request.comment)
        patch = await self._patches.approve(patch_id, request.etag, request.comment, mutation_of(request))
        return pb.ApprovePromptPatchResponse(patch=message(pb.PromptPatch, patch))

    async def RejectPromptPatch(self, request: pb.RejectPromptPatchRequest,
                                context: grpc.aio.ServicerContext) -> pb.RejectPromptPatchResponse:
        patch_id = _patch_id(request.name)
        _notes(reason=request.reason)
        patch = await self._patches.reject(patch_id, request.etag, request.reason, mutation_of(request))
        return pb.RejectPromptPatchResponse(patch=message(pb.PromptPatch, patch))

    async def DeactivatePromptPatch(self, request: pb.DeactivatePromptPatchRequest,
                                    context: grpc.aio.ServicerContext) -> pb.DeactivatePromptPatchResponse:
        patch_id = _patch_id(request.name)
        _notes(reason=request.reason)
        patch = await self._patches.deactivate(patch_id, request.etag, request.reason, mutation_of(request))
        return pb.DeactivatePromptPatchResponse(patch=message(pb.PromptPatch, patch))

    async def RollbackPromptPatch(self, request: pb.RollbackPromptPatchRequest,
                                  context: grpc.aio.ServicerContext) -> pb.RollbackPromptPatchResponse:
        patch_id = _patch_id(request.name)
        _notes(reason=request.reason)
        result = await self._patches.rollback(patch_id, request.etag, request.reason, mutation_of(request))
        reply = pb.RollbackPromptPatchResponse(patch=message(pb.PromptPatch, result.patch))
        if result.restored is not None:
            reply.restored_patch.CopyFrom(message(pb.PromptPatch, result.restored))
        return reply

    async def ListPromptPatchRevisions(self, request: pb.ListPromptPatchRevisionsRequest,
                                       context: grpc.aio.ServicerContext) -> pb.ListPromptPatchRevisionsResponse:
        page = await self._patches.revisions(_organization(), _patch_id(request.parent, "parent"), request.page_size,
                                             request.page_token)
        return pb.ListPromptPatchRevisionsResponse(
            revisions=[pb.PromptPatchRevision(
                name=f"{r.snapshot.name}/revisions/{r.revision}", revision=r.revision,
                action=pb.PatchAction.Value(r.action.value), actor=r.actor, reason=r.reason,
                snapshot=message(pb.PromptPatch, r.snapshot), create_time=timestamp(r.create_time))
                for r in page.items],
            next_page_token=page.next_page_token)

    async def ListActivePatches(self, request: pb.ListActivePatchesRequest,
                                context: grpc.aio.ServicerContext) -> pb.ListActivePatchesResponse:
        archetype = optional_name(request.archetype, "archetypes", "archetype")
        persona = optional_name(request.persona, "personas", "persona")
        targets = [PatchTarget(enum_name(pb.PatchTarget, t, f"targets[{i}]")) for i, t in enumerate(request.targets)]
        session = optional_name(request.session, "sessions", "session")
        if session and not persona:
            raise InvalidArgument(FieldViolation("persona", "is required with a session: a session's variant is "
                                                            "one of its persona"))
        active = await self._patches.active_set(_organization(), archetype, targets, persona)
        reply = pb.ListActivePatchesResponse(patches=[message(pb.PromptPatch, p) for p in active.patches],
                                             active_set_etag=active.etag)
        played = None
        if session:
            played = await self._experiments.session_variant(_organization(), session.removeprefix("sessions/"),
                                                             persona)
        if played is not None:
            modifications = [convert.variant_patch(m, played, persona, i) for i, m in enumerate(played.modifications)]
            reply.patches.extend(p for p in modifications if not targets or p.target in request.targets)
            reply.experiment, reply.experiment_variant = played.experiment, played.variant_id
            # The variant's modifications never change, so the set is the active set and the variant.
            reply.active_set_etag = f"{active.etag}:{played.experiment}/{played.variant_id}"
        return reply

    # --- feedback and learning runs -----------------------------------------------------------

    async def RecordFeedback(self, request: pb.RecordFeedbackRequest,
                             context: grpc.aio.ServicerContext) -> pb.RecordFeedbackResponse:
        document = convert.feedback_document(request.feedback)
        await self._personas.require_usable(document["persona"])
        recorded = await self._corpus.record_feedback(_organization(), document)
        return pb.RecordFeedbackResponse(feedback=message(pb.Feedback, recorded.document),
                                         duplicate=recorded.duplicate)

    async def GetFeedback(self, request: pb.GetFeedbackRequest,
                          context: grpc.aio.ServicerContext) -> pb.GetFeedbackResponse:
        feedback = await self._corpus.get_feedback(_organization(), convert.trace_id_of(request.name))
        return pb.GetFeedbackResponse(feedback=message(pb.Feedback, feedback))

    async def ListTrainingEvents(self, request: pb.ListTrainingEventsRequest,
                                 context: grpc.aio.ServicerContext) -> pb.ListTrainingEventsResponse:
        filters = {
            "persona": optional_name(request.persona, "personas", "persona") or None,
            "source": optional_enum_name(pb.TrainingEventSource, request.source, "source"),
            "processed": request.processed if request.HasField("processed") else None,
            "learning_run": optional_name(request.learning_run, "learningRuns", "learning_run") or None,
        }
        page = await self._corpus.list_events(_organization(), filters, request.page_size, request.page_token)
        return pb.ListTrainingEventsResponse(
            events=[pb.TrainingEvent(
                name=f"trainingEvents/{e.id}", source=pb.TrainingEventSource.Value(e.source.value), origin=e.origin,
                persona=e.persona, module=e.module, signal=e.signal, processed=e.processed,
                learning_run=e.learning_run, create_time=timestamp(e.create_time),
                process_time=timestamp(e.process_time))
                for e in page.items],
            next_page_token=page.next_page_token)

    async def CreateLearningRun(self, request: pb.CreateLearningRunRequest,
                                context: grpc.aio.ServicerContext) -> pb.CreateLearningRunResponse:
        run = request.learning_run
        persona = optional_name(run.persona, "personas", "learning_run.persona")
        v = Violations()
        v.require(0 <= run.event_limit <= MAX_EVENT_LIMIT, "learning_run.event_limit",
                  f"must be 0 (10000) or 1 to {MAX_EVENT_LIMIT} (got {run.event_limit})")
        v.raise_if_any()
        engine = self._engine(run.engine, "learning_run.engine")
        scenario = optional_name(run.scenario, "scenarios", "learning_run.scenario")
        await require_scenario(self._personas, scenario)
        mutation = mutation_of(request)
        created = await self._runs.start(
            RunKind.LEARNING, mutation.caller.organization, {"persona": persona, "auto_publish": run.auto_publish,
                                                             "event_limit": run.event_limit or 10_000,
                                                             "engine": engine, "scenario": scenario},
            RunTrigger.MANUAL, mutation)
        return pb.CreateLearningRunResponse(learning_run=convert.learning_run(created))

    def _engine(self, value: pb.Engine.ValueType, field: str) -> Engine:
        """The engine a run asks for, the configured default when it names none; openai only where configured."""
        engine = convert.engine_of(value, field) or self._default_engine
        if engine == Engine.OPENAI and not self._openai_configured:
            raise InvalidArgument(FieldViolation(field, "ENGINE_OPENAI is not configured on this service "
                                                        "(LEARNING_OPENAI_BASE_URL)"), reason="ENGINE_NOT_CONFIGURED")
        return engine

    async def GetLearningRun(self, request: pb.GetLearningRunRequest,
                             context: grpc.aio.ServicerContext) -> pb.GetLearningRunResponse:
        run = await self._runs.get(RunKind.LEARNING, _organization(),
                                   names.resource_id(request.name, "learningRuns", "name"))
        return pb.GetLearningRunResponse(learning_run=convert.learning_run(run))

    async def ListLearningRuns(self, request: pb.ListLearningRunsRequest,
                               context: grpc.aio.ServicerContext) -> pb.ListLearningRunsResponse:
        filters = {"scope": scope_filter(request, "persona", "personas", "all_personas"),
                   "state": optional_enum_name(pb.RunState, request.state, "state"),
                   "decision": optional_enum_name(pb.PublishDecision, request.decision, "decision")}
        page = await self._runs.list(RunKind.LEARNING, _organization(), filters, request.page_size, request.page_token)
        return pb.ListLearningRunsResponse(learning_runs=[convert.learning_run(r) for r in page.items],
                                           next_page_token=page.next_page_token)

    # --- experiments --------------------------------------------------------------------------

    async def CreateExperiment(self, request: pb.CreateExperimentRequest,
                               context: grpc.aio.ServicerContext) -> pb.CreateExperimentResponse:
        experiment = request.experiment
        variants = [Variant(v.variant_id, v.persona, v.traffic_bps, v.control) for v in experiment.variants]
        metric = optional_enum_name(pb.ExperimentMetric, experiment.metric, "experiment.metric")
        method = optional_enum_name(pb.TestMethod, experiment.test_method, "experiment.test_method")
        settings = ExperimentSettings(ExperimentMetric(metric) if metric else None, experiment.confidence_level,
                                      TestMethod(method) if method else None, experiment.horizon_samples,
                                      experiment.min_samples)
        v = Violations()
        v.require(0 < len(experiment.display_name.strip()) <= 200, "experiment.display_name",
                  "is required, at most 200 characters")
        check_note(v, experiment.description, "experiment.description", 2000)
        if request.experiment_id:
            names.check_resource_id(v, "experiment_id", request.experiment_id)
        for index, variant in enumerate(variants):
            if not (variant.persona.startswith("personas/")
                    and names.valid_id(variant.persona.removeprefix("personas/"))):
                v.add(f"experiment.variants[{index}].persona",
                      f"must be a resource name like 'personas/{{id}}' (got {variant.persona[:100]!r})")
        for field, description in validate_experiment(variants, settings):
            v.add(field, description)
        traffic = traffic_total_violation(variants)
        if traffic is not None:
            v.add(*traffic)
            v.raise_if_any(reason="TRAFFIC_NOT_100_PERCENT")
        v.raise_if_any()
        for index, variant in enumerate(variants):
            if not await self._personas.persona_exists(variant.persona):
                raise InvalidArgument(FieldViolation(f"experiment.variants[{index}].persona",
                                                     f"{variant.persona} is not known to the persona service"),
                                      reason="UNKNOWN_PERSONA")
        stored_variants = [{**to_record(variant), **await self._modifications(index, given)}
                           for index, (variant, given) in enumerate(zip(variants, experiment.variants, strict=True))]
        document = {"display_name": experiment.display_name.strip(), "description": experiment.description,
                    "variants": stored_variants, "metric": metric, "confidence_level": settings.level,
                    "test_method": settings.method.value, "horizon_samples": experiment.horizon_samples,
                    "min_samples": settings.decision_min_samples}
        created = await self._experiments.create(request.experiment_id, document, mutation_of(request))
        return pb.CreateExperimentResponse(experiment=message(pb.Experiment, created))

    async def _modifications(self, index: int, variant: pb.Variant) -> dict[str, list[object]]:
        """The variant's modifications as stored, once each is known to fit a part of the variant's persona: as
        given ("modifications") and as the structured patches of the persona a promotion makes them ("changes")."""
        organization = _organization()
        persona = await self._personas.simulated_persona(variant.persona, organization)
        active = await self._patches.active_set(organization, persona.archetype if persona else "", ())
        changes = []
        for position, modification in enumerate(variant.modifications):
            where = f"experiment.variants[{index}].modifications[{position}]"
            change = convert.variant_modification(modification, variant.persona, where)
            with convert.fields_under(where):
                changes.append(to_record(await reached_change(change, self._personas, active, organization)))
        return {"modifications": [convert.document(m) for m in variant.modifications], "changes": changes}

    async def GetExperiment(self, request: pb.GetExperimentRequest,
                            context: grpc.aio.ServicerContext) -> pb.GetExperimentResponse:
        experiment = await self._experiments.get(_organization(),
                                                 names.resource_id(request.name, "experiments", "name"))
        return pb.GetExperimentResponse(experiment=message(pb.Experiment, experiment))

    async def ListExperiments(self, request: pb.ListExperimentsRequest,
                              context: grpc.aio.ServicerContext) -> pb.ListExperimentsResponse:
        filters = {"state": optional_enum_name(pb.ExperimentState, request.state, "state"),
                   "persona": optional_name(request.persona, "personas", "persona") or None}
        page = await self._experiments.list(_organization(), filters, request.page_size, request.page_token)
        return pb.ListExperimentsResponse(experiments=[message(pb.Experiment, e) for e in page.items],
                                          next_page_token=page.next_page_token)

    async def AssignVariant(self, request: pb.AssignVariantRequest,
                            context: grpc.aio.ServicerContext) -> pb.AssignVariantResponse:
        experiment_id = names.resource_id(request.experiment, "experiments", "experiment")
        session_id = names.resource_id(request.session, "sessions", "session")
        assignment = await self._experiments.assign(_organization(), experiment_id, session_id)
        return pb.AssignVariantResponse(assignment=pb.VariantAssignment(
            name=assignment.name, session=assignment.session, variant_id=assignment.variant_id,
            persona=assignment.persona, create_time=timestamp(assignment.create_time)))

    async def RecordExperimentOutcome(self, request: pb.RecordExperimentOutcomeRequest,
                                      context: grpc.aio.ServicerContext) -> pb.RecordExperimentOutcomeResponse:
        experiment_id = names.resource_id(request.experiment, "experiments", "experiment")
        session_id = names.resource_id(request.session, "sessions", "session")
        v = Violations()
        has_say, has_audit = request.HasField("say_meter_score"), request.HasField("audit_score")
        v.require(has_say or has_audit, "say_meter_score", "at least one of say_meter_score and audit_score")
        if has_say:
            v.require(0 <= request.say_meter_score <= 100, "say_meter_score",
                      f"must be between 0 and 100 (got {request.say_meter_score})")
        if has_audit:
            v.require(math.isfinite(request.audit_score) and 1.0 <= request.audit_score <= 10.0, "audit_score",
                      f"must be between 1.0 and 10.0 (got {request.audit_score})")
        v.raise_if_any()
        outcome = await self._experiments.record_outcome(
            experiment_id, session_id, request.say_meter_score if has_say else None,
            request.audit_score if has_audit else None, mutation_of(request))
        return pb.RecordExperimentOutcomeResponse(experiment=message(pb.Experiment, outcome.experiment),
                                                  duplicate=outcome.duplicate)

    async def StopExperiment(self, request: pb.StopExperimentRequest,
                             context: grpc.aio.ServicerContext) -> pb.StopExperimentResponse:
        experiment_id = names.resource_id(request.name, "experiments", "name")
        _notes(reason=request.reason)
        stopped = await self._experiments.stop(experiment_id, request.etag, request.reason, mutation_of(request))
        return pb.StopExperimentResponse(experiment=message(pb.Experiment, stopped))
