"""MemoryService over gRPC: requests to use cases, results to responses, nothing else."""

from __future__ import annotations

import re
from typing import TypeAlias

import grpc
from sparring.audit.v1 import audit_pb2
from sparring.persona.v1 import memory_service_pb2 as pb
from sparring.persona.v1 import memory_service_pb2_grpc

from calls.persona_audit import FlagReason
from calls.turns import Role, Turn
from persona_svc.domain.episodes import Episode, EpisodeFlag, EpisodeRanking, EpisodeReview, episode_of
from persona_svc.domain.facts import ExtractedFact, Fact, FactKind, ObjectionOutcome, topic_of
from persona_svc.domain.memory import (
    MemoryContent,
    MemoryItem,
    MemorySettings,
    MemorySource,
    Persistence,
    WorkingMemory,
    WorkingMemoryRevision,
    candidate_of,
    revision_of,
    scope_of,
)
from persona_svc.service_layer.memory import PersonaMemory
from svckit import names
from svckit.context import current_call
from svckit.errors import FieldViolation, InvalidArgument, Violations
from svckit.fieldmask import resolve_update_mask
from svckit.openai_json import deadline_of
from svckit.times import timestamp
from svckit.usecase import mutation_of

Context: TypeAlias = grpc.aio.ServicerContext

MEMORY_SOURCES = {
    MemorySource.NOT_REQUESTED: pb.MEMORY_SOURCE_NOT_REQUESTED,
    MemorySource.LIVE: pb.MEMORY_SOURCE_LIVE,
    MemorySource.UNAVAILABLE: pb.MEMORY_SOURCE_UNAVAILABLE,
    MemorySource.DISABLED: pb.MEMORY_SOURCE_DISABLED,
}
RANKINGS = {pb.EPISODE_RANKING_FULL_TEXT: EpisodeRanking.FULL_TEXT, pb.EPISODE_RANKING_TRIGRAM: EpisodeRanking.TRIGRAM,
            pb.EPISODE_RANKING_HYBRID: EpisodeRanking.HYBRID, pb.EPISODE_RANKING_VECTOR: EpisodeRanking.VECTOR}
PERSISTENCES = {persistence: pb.MemoryPersistence.Value(f"MEMORY_PERSISTENCE_{persistence.name}")
                for persistence in Persistence}
SETTINGS_WRITABLE = frozenset({"persistence", "retention_days"})
SETTINGS_OUTPUT_ONLY = frozenset({"name", "update_time", "etag"})
_SETTINGS_NAME = re.compile(r"^personas/([^/]+)/memorySettings$")


def settings_message(settings: MemorySettings) -> pb.MemorySettings:
    return pb.MemorySettings(name=settings.resource_name, persistence=PERSISTENCES[settings.persistence],
                             retention_days=settings.retention_days, update_time=timestamp(settings.update_time),
                             etag=settings.etag)


def settings_persona(name: str, field: str) -> str:
    match = _SETTINGS_NAME.match(name)
    if match is None or not names.valid_id(match.group(1)):
        raise InvalidArgument(FieldViolation(field, "must be a resource name like 'personas/{persona}/memorySettings' "
                                                    f"(got {name[:100]!r})"))
    return match.group(1)


def settings_of(message: pb.MemorySettings, fields: frozenset[str]) -> MemorySettings:
    persistences = {number: persistence for persistence, number in PERSISTENCES.items()}
    if "persistence" in fields and message.persistence not in persistences:
        raise InvalidArgument(FieldViolation("memory_settings.persistence", "must name how the persona remembers"))
    return MemorySettings(settings_persona(message.name, "memory_settings.name"),
                          persistences.get(message.persistence, Persistence.ACROSS_SESSIONS), message.retention_days)


def working_memory_message(memory: WorkingMemory) -> pb.WorkingMemory:
    return pb.WorkingMemory(
        name=memory.scope.resource_name,
        scratchpad=memory.content.scratchpad,
        active_goals=memory.content.active_goals,
        task_context=memory.content.task_context,
        revision=memory.revision,
        update_time=timestamp(memory.update_time),
        last_access_time=timestamp(memory.last_access_time),
        etag=memory.etag,
    )


def revision_message(revision: WorkingMemoryRevision) -> pb.WorkingMemoryRevision:
    name = revision.scope.resource_name
    return pb.WorkingMemoryRevision(
        name=f"{name}/revisions/{revision.revision}",
        revision=revision.revision,
        change=pb.WorkingMemoryChange.Value(f"WORKING_MEMORY_CHANGE_{revision.change.name}"),
        changed_paths=revision.changed_paths,
        restored_revision=revision.restored_revision,
        snapshot=working_memory_message(WorkingMemory(revision.scope, revision.snapshot, revision.revision,
                                                      revision.create_time)),
        actor=revision.actor,
        create_time=timestamp(revision.create_time),
    )


FACT_KINDS = {kind: pb.FactKind.Value(f"FACT_KIND_{kind.name}") for kind in FactKind}
OUTCOMES = {ObjectionOutcome.NONE: pb.OBJECTION_OUTCOME_UNSPECIFIED, ObjectionOutcome.OPEN: pb.OBJECTION_OUTCOME_OPEN,
            ObjectionOutcome.HANDLED: pb.OBJECTION_OUTCOME_HANDLED}
ROLES = {pb.MESSAGE_ROLE_CANDIDATE: Role.USER, pb.MESSAGE_ROLE_PERSONA: Role.ASSISTANT}


def fact_message(fact: Fact) -> pb.Fact:
    return pb.Fact(
        name=fact.resource_name, kind=FACT_KINDS[fact.kind], text=fact.text, topic=fact.topic,
        session=f"sessions/{fact.session_id}", message_sequences=fact.message_sequences, confidence=fact.confidence,
        outcome=OUTCOMES[fact.outcome], engine=fact.engine, valid_from=timestamp(fact.valid_from),
        valid_until=timestamp(fact.valid_until), superseded_by=fact.superseded_by_name,
    )


def session_turns(messages: list[pb.SessionMessage]) -> list[Turn]:
    violations = Violations()
    for index, message in enumerate(messages):
        violations.require(message.role in ROLES, f"messages[{index}].role", "must be the candidate or the persona")
    violations.raise_if_any()
    return [Turn(m.sequence, ROLES[m.role], m.text) for m in messages]


def given_facts(facts: list[pb.Fact]) -> list[ExtractedFact]:
    violations = Violations()
    kinds = {number: kind for kind, number in FACT_KINDS.items()}
    outcomes = {number: outcome for outcome, number in OUTCOMES.items()}
    for index, fact in enumerate(facts):
        violations.require(fact.kind in kinds, f"facts[{index}].kind", "must name the kind of fact")
    violations.raise_if_any()
    return [ExtractedFact(kinds[f.kind], f.text, topic_of(f.text), tuple(f.message_sequences), f.confidence,
                          outcomes.get(f.outcome, ObjectionOutcome.NONE)) for f in facts]


def applied_memory_message(item: MemoryItem) -> pb.AppliedMemory:
    return pb.AppliedMemory(source=item.source, block=item.block, key=item.key, text=item.text)


FLAG_NUMBERS = {reason: getattr(audit_pb2, f"FLAG_REASON_{reason.name}") for reason in FlagReason}
FLAG_REASONS = {number: reason for reason, number in FLAG_NUMBERS.items()}


def episode_message(episode: Episode) -> pb.Episode:
    message = pb.Episode(name=episode.resource_name, session=f"sessions/{episode.session_id}",
                         summary=episode.summary, outcome=episode.outcome, create_time=timestamp(episode.create_time))
    review = episode.review
    if review is not None:
        message.say_meter.scores.extend(review.say_meter_scores)
        if review.final_say_meter is not None:
            message.say_meter.final_score = review.final_say_meter
        message.audit.CopyFrom(pb.EpisodeAudit(audit=review.audit, overall_score=review.overall_score, flags=[
            pb.EpisodeFlag(reason=FLAG_NUMBERS[flag.reason],
                           message_sequence=flag.message_sequence) for flag in review.flags]))
    return message


def review_of(request: pb.RecordEpisodeReviewRequest) -> EpisodeReview:
    violations = Violations()
    flags = request.audit.flags
    for index, flag in enumerate(flags):
        violations.require(flag.reason in FLAG_REASONS, f"audit.flags[{index}].reason", "must name a flag reason")
    violations.raise_if_any()
    say_meter = request.say_meter
    return EpisodeReview(
        tuple(say_meter.scores), say_meter.final_score if say_meter.HasField("final_score") else None,
        f"audits/{names.resource_id(request.audit.audit, 'audits', 'audit.audit')}", request.audit.overall_score,
        tuple(EpisodeFlag(FLAG_REASONS[flag.reason], flag.message_sequence) for flag in flags))


class MemoryServicer(memory_service_pb2_grpc.MemoryServiceServicer):
    def __init__(self, memories: PersonaMemory) -> None:
        self._memories = memories

    async def GetWorkingMemory(self, request: pb.GetWorkingMemoryRequest,
                               context: Context) -> pb.GetWorkingMemoryResponse:
        memory = await self._memories.get(current_call().organization, scope_of(request.name, "name"))
        return pb.GetWorkingMemoryResponse(working_memory=working_memory_message(memory))

    async def UpdateWorkingMemory(self, request: pb.UpdateWorkingMemoryRequest,
                                  context: Context) -> pb.UpdateWorkingMemoryResponse:
        sent = request.working_memory
        memory = await self._memories.update(
            scope_of(sent.name, "working_memory.name"),
            MemoryContent(dict(sent.scratchpad), tuple(sent.active_goals), sent.task_context),
            list(request.update_mask.paths), sent.etag, mutation_of(request))
        return pb.UpdateWorkingMemoryResponse(working_memory=working_memory_message(memory))

    async def ClearWorkingMemory(self, request: pb.ClearWorkingMemoryRequest,
                                 context: Context) -> pb.ClearWorkingMemoryResponse:
        memory = await self._memories.clear(scope_of(request.name, "name"), request.etag, mutation_of(request))
        return pb.ClearWorkingMemoryResponse(working_memory=working_memory_message(memory))

    async def ListWorkingMemoryRevisions(self, request: pb.ListWorkingMemoryRevisionsRequest,
                                         context: Context) -> pb.ListWorkingMemoryRevisionsResponse:
        page = await self._memories.list_revisions(current_call().organization, scope_of(request.parent, "parent"),
                                                   request.page_size, request.page_token)
        return pb.ListWorkingMemoryRevisionsResponse(revisions=[revision_message(r) for r in page.items],
                                                     next_page_token=page.next_page_token)

    async def RestoreWorkingMemory(self, request: pb.RestoreWorkingMemoryRequest,
                                   context: Context) -> pb.RestoreWorkingMemoryResponse:
        scope = scope_of(request.name, "name")
        memory = await self._memories.restore(scope, revision_of(request.revision, scope, "revision"), request.etag,
                                              mutation_of(request))
        return pb.RestoreWorkingMemoryResponse(working_memory=working_memory_message(memory))

    async def RecordSessionFacts(self, request: pb.RecordSessionFactsRequest,
                                 context: Context) -> pb.RecordSessionFactsResponse:
        scope = candidate_of(request.parent, "parent")
        facts = await self._memories.record_session_facts(
            scope.persona_id, scope.candidate_id, names.resource_id(request.session, "sessions", "session"),
            session_turns(list(request.messages)), given_facts(list(request.facts)), mutation_of(request),
            deadline_of(context.time_remaining()))
        return pb.RecordSessionFactsResponse(facts=[fact_message(f) for f in facts])

    async def EraseCandidateMemory(self, request: pb.EraseCandidateMemoryRequest,
                                   context: Context) -> pb.EraseCandidateMemoryResponse:
        erased = await self._memories.erase_candidate(names.resource_id(request.candidate, "candidates", "candidate"),
                                                      mutation_of(request))
        return pb.EraseCandidateMemoryResponse(
            working_memories_erased=erased.working_memories, revisions_erased=erased.revisions,
            facts_erased=erased.facts, sessions_unlinked=erased.sessions_unlinked, episodes_erased=erased.episodes)

    async def GetMemorySettings(self, request: pb.GetMemorySettingsRequest,
                                context: Context) -> pb.GetMemorySettingsResponse:
        settings = await self._memories.get_settings(current_call().organization,
                                                     settings_persona(request.name, "name"))
        return pb.GetMemorySettingsResponse(memory_settings=settings_message(settings))

    async def UpdateMemorySettings(self, request: pb.UpdateMemorySettingsRequest,
                                   context: Context) -> pb.UpdateMemorySettingsResponse:
        fields = resolve_update_mask(request.update_mask, SETTINGS_WRITABLE, SETTINGS_OUTPUT_ONLY)
        settings = await self._memories.update_settings(settings_of(request.memory_settings, fields), fields,
                                                        request.memory_settings.etag, mutation_of(request))
        return pb.UpdateMemorySettingsResponse(memory_settings=settings_message(settings))

    async def RecallEpisodes(self, request: pb.RecallEpisodesRequest, context: Context) -> pb.RecallEpisodesResponse:
        recalled = await self._memories.recall_episodes(
            current_call().organization, names.resource_id(request.persona, "personas", "persona"),
            names.resource_id(request.candidate, "candidates", "candidate") if request.candidate else "",
            request.context, RANKINGS.get(request.ranking, EpisodeRanking.HYBRID), request.page_size,
            deadline_of(context.time_remaining()))
        return pb.RecallEpisodesResponse(episodes=[
            pb.RecalledEpisode(episode=episode_message(episode), score=score) for episode, score in recalled])

    async def GetEpisode(self, request: pb.GetEpisodeRequest, context: Context) -> pb.GetEpisodeResponse:
        episode = await self._memories.get_episode(current_call().organization, *episode_of(request.name, "name"))
        return pb.GetEpisodeResponse(episode=episode_message(episode))

    async def RecordEpisodeReview(self, request: pb.RecordEpisodeReviewRequest,
                                  context: Context) -> pb.RecordEpisodeReviewResponse:
        recorded = await self._memories.record_episode_review(
            current_call().organization, names.resource_id(request.persona, "personas", "persona"),
            names.resource_id(request.session, "sessions", "session"), review_of(request))
        return pb.RecordEpisodeReviewResponse(duplicate=not recorded)

    async def ListFacts(self, request: pb.ListFactsRequest, context: Context) -> pb.ListFactsResponse:
        scope = candidate_of(request.parent, "parent")
        page = await self._memories.list_facts(current_call().organization, scope.persona_id, scope.candidate_id,
                                               request.show_superseded, request.page_size, request.page_token)
        return pb.ListFactsResponse(facts=[fact_message(f) for f in page.items], next_page_token=page.next_page_token)
