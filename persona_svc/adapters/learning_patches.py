"""Active prompt patches from the learning service, never at the cost of a call start.

If the learning service does not answer within the timeout, or fails, rendering goes
on without patches (source UNAVAILABLE) and the fall-back is counted by reason.
"""

from __future__ import annotations

import logging

import grpc
from prometheus_client import Counter
from sparring.learning.v1 import learning_service_pb2 as learning_pb
from sparring.learning.v1 import learning_service_pb2_grpc

from persona_svc.domain.patches import (
    PATCHES_DISABLED,
    PATCHES_UNAVAILABLE,
    PatchLookup,
    PatchSource,
    PatchTarget,
    PromptPatch,
)
from svckit.transport import ServiceLink

log = logging.getLogger("persona.patches")

PATCH_FALLBACKS = Counter(
    "sparring_persona_patch_fallbacks_total",
    "Prompts rendered without patches because the learning service could not answer.",
    ("reason",),
)

_TARGETS = {
    learning_pb.PATCH_TARGET_VOICE_PROMPT: PatchTarget.VOICE_PROMPT,
    learning_pb.PATCH_TARGET_SYSTEM_PROMPT: PatchTarget.SYSTEM_PROMPT,
    learning_pb.PATCH_TARGET_ELEMENTAL_BEHAVIOR: PatchTarget.ELEMENTAL_BEHAVIOR,
}


class NoPatches:
    """Used when no learning service is configured."""

    async def active_patches(self, organization: str, persona_name: str, archetype_id: str) -> PatchLookup:
        return PATCHES_DISABLED


class LearningServicePatches:
    def __init__(self, link: ServiceLink, timeout_seconds: float) -> None:
        self._link = link
        self._stub = learning_service_pb2_grpc.LearningServiceStub(link.channel)
        self._timeout = timeout_seconds
        # (organization, archetype) -> (active_set_etag, lookup): an unchanged set yields the same lookup object.
        self._last: dict[tuple[str, str], tuple[str, PatchLookup]] = {}

    async def active_patches(self, organization: str, persona_name: str, archetype_id: str) -> PatchLookup:
        request = learning_pb.ListActivePatchesRequest(archetype=f"archetypes/{archetype_id}" if archetype_id else "")
        try:
            reply = await self._stub.ListActivePatches(request, **self._link.options(self._timeout, organization))
        except grpc.aio.AioRpcError as error:
            PATCH_FALLBACKS.labels(error.code().name.lower()).inc()
            log.warning("rendering %s without patches: learning service answered %s", persona_name, error.code().name)
            return PATCHES_UNAVAILABLE
        last = self._last.get((organization, archetype_id))
        if last is not None and reply.active_set_etag and last[0] == reply.active_set_etag:
            return last[1]
        patches = tuple(
            PromptPatch(name=p.name, target=_TARGETS[p.target], text=p.text)
            for p in reply.patches
            if p.target in _TARGETS
        )
        lookup = PatchLookup(patches, PatchSource.LIVE)
        self._last[(organization, archetype_id)] = (reply.active_set_etag, lookup)
        return lookup

    async def close(self) -> None:
        await self._link.close()
