"""MemoryService over gRPC: requests to use cases, results to responses, nothing else."""

from __future__ import annotations

from typing import TypeAlias

import grpc
from sparring.persona.v1 import memory_service_pb2 as pb
from sparring.persona.v1 import memory_service_pb2_grpc

from persona_svc.domain.memory import (
    MemoryContent,
    MemoryItem,
    MemorySource,
    WorkingMemory,
    WorkingMemoryRevision,
    revision_of,
    scope_of,
)
from persona_svc.service_layer.memory import WorkingMemories
from svckit.context import current_call
from svckit.times import timestamp
from svckit.usecase import mutation_of

Context: TypeAlias = grpc.aio.ServicerContext

MEMORY_SOURCES = {
    MemorySource.NOT_REQUESTED: pb.MEMORY_SOURCE_NOT_REQUESTED,
    MemorySource.LIVE: pb.MEMORY_SOURCE_LIVE,
    MemorySource.UNAVAILABLE: pb.MEMORY_SOURCE_UNAVAILABLE,
}


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


def applied_memory_message(item: MemoryItem) -> pb.AppliedMemory:
    return pb.AppliedMemory(working_memory=item.working_memory, block=item.block, key=item.key, text=item.text)


class MemoryServicer(memory_service_pb2_grpc.MemoryServiceServicer):
    def __init__(self, memories: WorkingMemories) -> None:
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
