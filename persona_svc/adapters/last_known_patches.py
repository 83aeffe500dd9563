"""The last set of active patches the learning service gave for an organization's persona
(``persona.last_known_patches``), shared by every replica: a replica started while the learning service is down still
renders with them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from persona_svc.adapters import tables as t
from persona_svc.domain.patches import PromptPatch
from svckit.records import from_record, to_record

_c = t.last_known_patches.c


@dataclass(frozen=True, slots=True)
class KnownPatchSet:
    active_set_etag: str
    patches: tuple[PromptPatch, ...]
    confirm_time: datetime  # when the learning service last gave it


class SqlLastKnownPatches:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def save(self, organization: str, persona: str, known: KnownPatchSet) -> None:
        patches = [to_record(patch) for patch in known.patches]
        values = {"active_set_etag": known.active_set_etag, "patches": patches, "confirm_time": known.confirm_time}
        statement = insert(t.last_known_patches).values(organization=organization, persona=persona, **values)
        async with self._engine.begin() as connection:
            await connection.execute(statement.on_conflict_do_update(
                index_elements=[_c.organization, _c.persona], set_=values,
                where=_c.confirm_time < statement.excluded.confirm_time))

    async def load(self, organization: str, persona: str) -> KnownPatchSet | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(sa.select(t.last_known_patches).where(
                _c.organization == organization, _c.persona == persona))).mappings().first()
        if row is None:
            return None
        patches = tuple(from_record(PromptPatch, patch) for patch in row["patches"])
        return KnownPatchSet(row["active_set_etag"], patches, row["confirm_time"])
