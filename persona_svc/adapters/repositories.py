"""Repositories of the persona schema: domain objects in, domain objects out, each confined to one
organization (every statement names it)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from persona_svc.adapters import tables as t
from persona_svc.domain.model import (
    Archetype,
    ChangeKind,
    Persona,
    PersonaFields,
    PersonaFilter,
    PersonaVersion,
    Scenario,
    ScenarioFields,
    SearchHit,
    VariantPromotion,
)
from svckit import records

_PERSONA_COLUMNS = (
    t.personas.c.id, t.personas.c.fields, t.personas.c.revision,
    t.personas.c.create_time, t.personas.c.update_time, t.personas.c.delete_time,
)


def _persona(row: Any) -> Persona:
    return Persona(
        id=row.id,
        fields=PersonaFields.from_record(row.fields),
        revision=row.revision,
        create_time=row.create_time,
        update_time=row.update_time,
        delete_time=row.delete_time,
    )


def _persona_columns(persona: Persona) -> dict[str, Any]:
    f = persona.fields
    return {
        "slug": f.slug,
        "display_name": f.display_name,
        "blueprint": f.blueprint.value if f.blueprint else "",
        "difficulty": f.difficulty,
        "archetype_id": f.archetype_id or None,
        "active": f.active,
        "protected": f.protected,
        "domains": list(f.domains),
        "fields": f.to_record(),
        "revision": persona.revision,
        "update_time": persona.update_time,
        "delete_time": persona.delete_time,
    }


class PersonaRepository:
    def __init__(self, connection: AsyncConnection, organization: str) -> None:
        self._c = connection
        self._organization = organization
        self._mine = t.personas.c.organization == organization

    async def get(self, persona_id: str, *, for_update: bool = False) -> Persona | None:
        query = sa.select(*_PERSONA_COLUMNS).where(self._mine, t.personas.c.id == persona_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._c.execute(query)).first()
        return _persona(row) if row else None

    async def id_of_slug(self, slug: str) -> str | None:
        return await self._c.scalar(sa.select(t.personas.c.id).where(self._mine, t.personas.c.slug == slug))

    async def add(self, persona: Persona) -> None:
        await self._c.execute(
            t.personas.insert().values(organization=self._organization, id=persona.id,
                                       create_time=persona.create_time, **_persona_columns(persona))
        )

    async def save(self, persona: Persona) -> None:
        await self._c.execute(
            t.personas.update().where(self._mine, t.personas.c.id == persona.id).values(**_persona_columns(persona))
        )

    async def list_keys(self, where: PersonaFilter, after: tuple[datetime, str] | None,
                        limit: int) -> list[tuple[str, int]]:
        """(id, revision) of a page, newest first: the caller fills it from its cache, then ``get_many``."""
        p = t.personas.c
        query = (sa.select(p.id, p.revision).where(self._mine).order_by(p.create_time.desc(), p.id.desc())
                 .limit(limit))
        if not where.show_deleted:
            query = query.where(p.delete_time.is_(None))
        if where.blueprint:
            query = query.where(p.blueprint == where.blueprint)
        if where.min_difficulty:
            query = query.where(p.difficulty >= where.min_difficulty)
        if where.max_difficulty:
            query = query.where(p.difficulty <= where.max_difficulty)
        if where.archetype_id:
            query = query.where(p.archetype_id == where.archetype_id)
        if where.domain:
            query = query.where(p.domains.contains([where.domain]))
        if where.active is not None:
            query = query.where(p.active.is_(where.active))
        if after is not None:
            query = query.where(sa.tuple_(p.create_time, p.id) < sa.tuple_(sa.literal(after[0]), sa.literal(after[1])))
        return [(row.id, row.revision) for row in await self._c.execute(query)]

    async def get_many(self, persona_ids: list[str]) -> list[Persona]:
        query = sa.select(*_PERSONA_COLUMNS).where(self._mine, t.personas.c.id.in_(persona_ids))
        return [_persona(row) for row in await self._c.execute(query)]

    async def search(self, text: str, blueprint: str | None, limit: int) -> list[SearchHit]:
        """Full-text match (weighted name > domains, description > beliefs) plus trigram similarity,
        so a partial or misspelt name still finds its persona."""
        p = t.personas.c
        tsquery = sa.func.websearch_to_tsquery("english", text)
        lowered = text.lower()
        relevance = (
            sa.func.ts_rank_cd(p.search_vector, tsquery, 1)
            + sa.func.similarity(sa.func.lower(p.display_name), lowered)
            + 0.5 * sa.func.word_similarity(lowered, p.search_text)
        ).label("relevance")
        query = (
            sa.select(*_PERSONA_COLUMNS, relevance)
            .where(self._mine, p.delete_time.is_(None))
            .where(
                sa.or_(
                    p.search_vector.op("@@")(tsquery),
                    sa.func.lower(p.display_name).op("%")(lowered),
                    sa.literal(lowered).op("<%")(p.search_text),
                )
            )
            .order_by(sa.desc("relevance"), p.id)
            .limit(limit)
        )
        if blueprint:
            query = query.where(p.blueprint == blueprint)
        return [SearchHit(_persona(row), float(row.relevance)) for row in await self._c.execute(query)]

    async def add_version(self, version: PersonaVersion) -> None:
        await self._c.execute(
            t.persona_versions.insert().values(
                organization=self._organization,
                persona_id=version.persona_id,
                revision=version.revision,
                change_kind=version.change_kind.value,
                restored_revision=version.restored_revision,
                snapshot=version.snapshot.to_record(),
                create_time=version.create_time,
                promotion=records.to_record(version.promotion) if version.promotion else None,
            )
        )

    async def promotion_version(self, persona_id: str, experiment: str) -> PersonaVersion | None:
        """The version that recorded the promotion of a variant of ``experiment``, if one did."""
        v = t.persona_versions.c
        row = (await self._c.execute(sa.select(t.persona_versions).where(
            v.organization == self._organization, v.persona_id == persona_id,
            v.promotion["experiment"].astext == experiment))).first()
        return _version(row) if row else None

    async def get_version(self, persona_id: str, revision: int) -> PersonaVersion | None:
        row = (
            await self._c.execute(
                sa.select(t.persona_versions).where(
                    t.persona_versions.c.organization == self._organization,
                    t.persona_versions.c.persona_id == persona_id, t.persona_versions.c.revision == revision,
                )
            )
        ).first()
        return _version(row) if row else None

    async def list_versions(self, persona_id: str, before_revision: int | None, limit: int) -> list[PersonaVersion]:
        v = t.persona_versions.c
        query = (sa.select(t.persona_versions).where(v.organization == self._organization, v.persona_id == persona_id)
                 .order_by(v.revision.desc()).limit(limit))
        if before_revision is not None:
            query = query.where(v.revision < before_revision)
        return [_version(row) for row in await self._c.execute(query)]


def _version(row: Any) -> PersonaVersion:
    return PersonaVersion(
        persona_id=row.persona_id,
        revision=row.revision,
        change_kind=ChangeKind(row.change_kind),
        restored_revision=row.restored_revision,
        snapshot=Persona.from_record(row.snapshot),
        create_time=row.create_time,
        promotion=records.from_record(VariantPromotion, row.promotion) if row.promotion else None,
    )


def _scenario(row: Any) -> Scenario:
    f = row.fields
    return Scenario(
        id=row.id,
        fields=ScenarioFields(**{**f, "pain_points": tuple(f.get("pain_points", ()))}),
        revision=row.revision,
        create_time=row.create_time,
        update_time=row.update_time,
        creator=row.creator,
    )


class ScenarioRepository:
    def __init__(self, connection: AsyncConnection, organization: str) -> None:
        self._c = connection
        self._organization = organization
        self._mine = t.scenarios.c.organization == organization

    async def get(self, scenario_id: str, *, for_update: bool = False) -> Scenario | None:
        query = sa.select(t.scenarios).where(self._mine, t.scenarios.c.id == scenario_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._c.execute(query)).first()
        return _scenario(row) if row else None

    def _columns(self, scenario: Scenario) -> dict[str, Any]:
        f = scenario.fields
        return {
            "display_name": f.display_name,
            "industry": f.industry,
            "fields": dataclasses.asdict(f),
            "revision": scenario.revision,
            "update_time": scenario.update_time,
        }

    async def add(self, scenario: Scenario) -> None:
        await self._c.execute(
            t.scenarios.insert().values(organization=self._organization, id=scenario.id, creator=scenario.creator,
                                        create_time=scenario.create_time, **self._columns(scenario))
        )

    async def save(self, scenario: Scenario) -> None:
        await self._c.execute(
            t.scenarios.update().where(self._mine, t.scenarios.c.id == scenario.id).values(**self._columns(scenario))
        )

    async def delete(self, scenario_id: str) -> None:
        await self._c.execute(t.scenarios.delete().where(self._mine, t.scenarios.c.id == scenario_id))

    async def list(self, industry: str | None, after: tuple[datetime, str] | None, limit: int) -> list[Scenario]:
        s = t.scenarios.c
        query = sa.select(t.scenarios).where(self._mine).order_by(s.create_time.desc(), s.id.desc()).limit(limit)
        if industry:
            query = query.where(sa.func.lower(s.industry) == industry.lower())
        if after is not None:
            query = query.where(sa.tuple_(s.create_time, s.id) < sa.tuple_(sa.literal(after[0]), sa.literal(after[1])))
        return [_scenario(row) for row in await self._c.execute(query)]


def _archetype(row: Any) -> Archetype:
    return Archetype(
        id=row.id, display_name=row.display_name, description=row.description,
        voice_guidance=row.voice_guidance, create_time=row.create_time,
    )


class ArchetypeRepository:
    def __init__(self, connection: AsyncConnection, organization: str) -> None:
        self._c = connection
        self._organization = organization
        self._mine = t.archetypes.c.organization == organization

    async def get(self, archetype_id: str) -> Archetype | None:
        query = sa.select(t.archetypes).where(self._mine, t.archetypes.c.id == archetype_id)
        row = (await self._c.execute(query)).first()
        return _archetype(row) if row else None

    async def add(self, archetype: Archetype) -> None:
        await self._c.execute(
            t.archetypes.insert().values(
                organization=self._organization, id=archetype.id, display_name=archetype.display_name,
                description=archetype.description, voice_guidance=archetype.voice_guidance,
                create_time=archetype.create_time,
            )
        )

    async def list(self, after_id: str | None, limit: int) -> list[Archetype]:
        query = sa.select(t.archetypes).where(self._mine).order_by(t.archetypes.c.id).limit(limit)
        if after_id is not None:
            query = query.where(t.archetypes.c.id > after_id)
        return [_archetype(row) for row in await self._c.execute(query)]
