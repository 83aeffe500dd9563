"""Active prompt patches from the learning service, never at the cost of a call start.

The learning service gives the persona's archetype's patches and its published learned modules. If it does not
answer within the timeout, or fails, rendering goes on with the last set it gave for the persona (source
LAST_KNOWN_GOOD, with the time it last gave it): this replica's own, else the one any replica stored in
``persona.last_known_patches``. Only when no set was ever known does it go on without patches (source
UNAVAILABLE). Both fall-backs are counted, by reason and by what was applied.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import grpc
from prometheus_client import Counter
from sparring.learning.v1 import learning_service_pb2 as learning_pb
from sparring.learning.v1 import learning_service_pb2_grpc

from calls.prompt_parts import Edit
from persona_svc.adapters.last_known_patches import KnownPatchSet
from persona_svc.domain.patches import (
    PATCHES_DISABLED,
    PATCHES_UNAVAILABLE,
    PartChange,
    PatchLookup,
    PatchSource,
    PatchTarget,
    PromptPart,
    PromptPatch,
)
from svckit.transport import ServiceLink

log = logging.getLogger("persona.patches")

PATCH_FALLBACKS = Counter(
    "sparring_persona_patch_fallbacks_total",
    "Prompts rendered without the learning service's answer, by why it did not answer.",
    ("reason",),
)
PATCH_FALLBACK_SETS = Counter(
    "sparring_persona_patch_fallback_sets_total",
    "Prompts rendered without the learning service's answer, by what was applied instead: the last set it gave "
    "(last_known_good) or nothing, no set being known (none_known).",
    ("applied",),
)
LAST_KNOWN_FAILURES = Counter(
    "sparring_persona_last_known_patches_failures_total",
    "Reads and writes of the stored last-known patch sets that failed or ran out of time.",
    ("operation",),
)

# A live answer refreshes the stored set's confirm time at most this often (and at once when the set changes).
CONFIRM_EVERY = timedelta(seconds=60)
# Personas (per organization) whose last set one replica keeps in memory; the least recently used go first.
MAX_REMEMBERED_SETS = 10_000

_TARGETS = {
    learning_pb.PATCH_TARGET_VOICE_PROMPT: PatchTarget.VOICE_PROMPT,
    learning_pb.PATCH_TARGET_SYSTEM_PROMPT: PatchTarget.SYSTEM_PROMPT,
    learning_pb.PATCH_TARGET_ELEMENTAL_BEHAVIOR: PatchTarget.ELEMENTAL_BEHAVIOR,
}


def _change(patch: learning_pb.PromptPatch) -> PartChange | None:
    """A structured patch's edit, in the persona service's terms; None for the others."""
    if patch.operation != learning_pb.PATCH_OPERATION_EDIT_PART:
        return None
    words = (patch.words_per_turn.min_words, patch.words_per_turn.max_words) if patch.HasField("words_per_turn") \
        else None
    return PartChange(
        part=PromptPart(learning_pb.PromptPart.Name(patch.part).removeprefix("PROMPT_PART_").lower()),
        edit=Edit(learning_pb.PartEdit.Name(patch.edit).removeprefix("PART_EDIT_").lower()),
        find_text=patch.find_text, text=patch.text, words_per_turn=words, persona=patch.scope.persona,
        min_difficulty=patch.scope.min_difficulty, max_difficulty=patch.scope.max_difficulty)


def _patches(reply: learning_pb.ListActivePatchesResponse) -> tuple[PromptPatch, ...]:
    return tuple(PromptPatch(name=p.name, target=_TARGETS[p.target], text=p.text, change=_change(p))
                 for p in reply.patches if p.target in _TARGETS)


class LastKnownPatchStore(Protocol):
    async def save(self, organization: str, persona: str, known: KnownPatchSet) -> None: ...

    async def load(self, organization: str, persona: str) -> KnownPatchSet | None: ...


class NoPatches:
    """Used when no learning service is configured."""

    async def active_patches(self, organization: str, persona_name: str, archetype_id: str,
                             session: str = "") -> PatchLookup:
        return PATCHES_DISABLED


@dataclass
class _Seen:
    """A persona's last set: its live lookup (the same object while the set is unchanged, so renderings are
    memoised), and its last-known-good lookup once one was needed."""

    etag: str
    live: PatchLookup
    confirm_time: datetime
    stored_time: datetime | None = None
    fallback: PatchLookup | None = None

    def last_known(self) -> PatchLookup:
        if self.fallback is None or self.fallback.confirm_time != self.confirm_time:
            self.fallback = PatchLookup(self.live.patches, PatchSource.LAST_KNOWN_GOOD, self.confirm_time)
        return self.fallback


class LearningServicePatches:
    def __init__(self, link: ServiceLink, timeout_seconds: float, store: LastKnownPatchStore | None = None) -> None:
        self._link = link
        self._stub = learning_service_pb2_grpc.LearningServiceStub(link.channel)
        self._timeout = timeout_seconds
        self._store = store
        self._seen: OrderedDict[tuple[str, str], _Seen] = OrderedDict()

    async def active_patches(self, organization: str, persona_name: str, archetype_id: str,
                             session: str = "") -> PatchLookup:
        key = (organization, persona_name)
        request = learning_pb.ListActivePatchesRequest(archetype=f"archetypes/{archetype_id}" if archetype_id else "",
                                                       persona=persona_name, session=session)
        try:
            reply = await self._stub.ListActivePatches(request, **self._link.options(self._timeout, organization))
        except grpc.aio.AioRpcError as error:
            PATCH_FALLBACKS.labels(error.code().name.lower()).inc()
            lookup = await self._last_known(key)
            known = lookup.source is PatchSource.LAST_KNOWN_GOOD
            PATCH_FALLBACK_SETS.labels("last_known_good" if known else "none_known").inc()
            log.warning("rendering %s with %s: learning service answered %s", persona_name,
                        f"the patches it gave at {lookup.confirm_time}" if known else "no patches",
                        error.code().name)
            return lookup
        if reply.experiment_variant:
            return self._variant_set(organization, persona_name, reply)
        now = datetime.now(UTC)
        seen = self._seen.get(key)
        if seen is None or not reply.active_set_etag or seen.etag != reply.active_set_etag:
            seen = _Seen(reply.active_set_etag, PatchLookup(_patches(reply), PatchSource.LIVE), now)
        seen.confirm_time = now
        self._remember(key, seen)
        if seen.stored_time is None or now - seen.stored_time >= CONFIRM_EVERY:
            await self._save(key, seen)
        return seen.live

    def _variant_set(self, organization: str, persona_name: str,
                     reply: learning_pb.ListActivePatchesResponse) -> PatchLookup:
        """A session's set with its variant's modifications: kept in memory per variant (the same lookup while the
        set is unchanged, so renderings are memoised), never as the persona's last-known set, which is the
        control's."""
        key = (organization, f"{persona_name}|{reply.experiment}/{reply.experiment_variant}")
        seen = self._seen.get(key)
        if seen is None or seen.etag != reply.active_set_etag:
            lookup = PatchLookup(_patches(reply), PatchSource.LIVE, experiment=reply.experiment,
                                 experiment_variant=reply.experiment_variant)
            seen = _Seen(reply.active_set_etag, lookup, datetime.now(UTC))
        self._remember(key, seen)
        return seen.live

    async def _last_known(self, key: tuple[str, str]) -> PatchLookup:
        seen = self._seen.get(key)
        if seen is None and self._store is not None:
            try:
                known = await asyncio.wait_for(self._store.load(*key), self._timeout)
            except Exception:  # a store that cannot be read leaves the rendering without patches
                LAST_KNOWN_FAILURES.labels("load").inc()
                log.exception("the last-known patches of %s could not be read", key)
                known = None
            if known is not None:
                seen = _Seen(known.active_set_etag, PatchLookup(known.patches, PatchSource.LIVE), known.confirm_time,
                             stored_time=known.confirm_time)
                self._remember(key, seen)
        return seen.last_known() if seen is not None else PATCHES_UNAVAILABLE

    async def _save(self, key: tuple[str, str], seen: _Seen) -> None:
        if self._store is None:
            return
        try:
            await asyncio.wait_for(self._store.save(*key, KnownPatchSet(seen.etag, seen.live.patches,
                                                                        seen.confirm_time)), self._timeout)
            seen.stored_time = seen.confirm_time
        except Exception:  # a rendering never fails for the store; the next answer tries again
            LAST_KNOWN_FAILURES.labels("save").inc()
            log.exception("the last-known patches of %s could not be stored", key)

    def _remember(self, key: tuple[str, str], seen: _Seen) -> None:
        self._seen[key] = seen
        self._seen.move_to_end(key)
        while len(self._seen) > MAX_REMEMBERED_SETS:
            self._seen.popitem(last=False)

    async def close(self) -> None:
        await self._link.close()
