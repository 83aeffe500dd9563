"""Use cases of the persona catalogue: personas, versions, scenarios, archetypes, search, rendering."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from persona_svc.domain import templates
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
    check_filter_text,
    check_persona_filter,
    validate_archetype,
    validate_owners,
    validate_persona_fields,
    validate_scenario_fields,
)
from persona_svc.domain.patches import CandidatePatch
from persona_svc.domain.templates import RenderedPrompt
from persona_svc.service_layer.ownership import require_right_to_change
from persona_svc.service_layer.ports import CatalogueUnitOfWork, PatchProvider, UnitOfWorkFactory
from svckit.cache import InvalidatedCache
from svckit.context import CallContext
from svckit.errors import (
    AlreadyExists,
    EtagMismatch,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Violations,
)
from svckit.memo import ResponseMemo
from svckit.names import check_resource_id
from svckit.pagination import PageTokens, page_size
from svckit.usecase import Mutation, Page, run_idempotent

SEARCH_DEFAULT, SEARCH_MAX = 20, 100
MAX_QUERY_LENGTH = 200

Result = TypeVar("Result")
Cached = TypeVar("Cached", Persona, Scenario, Archetype)
# What a cache or memo knows a resource by: its organization and its id (ids are unique per organization).
Key = tuple[str, str]
# A change to a locked persona: its new fields, the kind of change and the revision it restores (0 if none).
PersonaChange = Callable[[CatalogueUnitOfWork, Persona], Awaitable[tuple[PersonaFields, ChangeKind, int]]]


def _now() -> datetime:
    return datetime.now(UTC)


def _check_etag(resource_name: str, sent: str, current: str) -> None:
    if sent and sent != current:
        raise EtagMismatch(resource_name, sent, current)


def _organization_of(caller: CallContext) -> str:
    """The organization a new resource belongs to: the caller's (for a service, the one it acts for)."""
    if not caller.organization:
        raise FailedPrecondition("this call creates a resource of an organization, and the caller acts for none "
                                 "(a service must name one in x-sparring-organization)",
                                 reason="ORGANIZATION_REQUIRED")
    return caller.organization


def _require_admin_to_protect(fields: PersonaFields, caller: CallContext) -> None:
    if fields.protected and not caller.is_admin:
        raise PermissionDenied("protecting a persona needs the admin role", reason="ADMIN_REQUIRED")


def _require_creator(scenario: Scenario, caller: CallContext, action: str) -> None:
    if not caller.is_admin and caller.actor != scenario.creator:
        raise PermissionDenied(f"{action} {scenario.resource_name} needs the admin role or to have created it",
                               reason="NOT_AN_OWNER", metadata={"resource": scenario.resource_name})


class Catalogue:
    def __init__(
        self,
        writes: UnitOfWorkFactory,
        reads: UnitOfWorkFactory,
        patches: PatchProvider,
        page_tokens: PageTokens,
        personas_cache: InvalidatedCache[Key, Persona] | None = None,
        scenarios_cache: InvalidatedCache[Key, Scenario] | None = None,
        archetypes_cache: InvalidatedCache[Key, Archetype] | None = None,
    ) -> None:
        self._transaction = writes
        # Reads only: no transaction (one round trip a statement).
        self._read = reads
        self._patches = patches
        self._tokens = page_tokens
        self._personas = personas_cache or InvalidatedCache("personas")
        self._scenarios = scenarios_cache or InvalidatedCache("scenarios")
        self._archetypes = archetypes_cache or InvalidatedCache("archetypes")
        self._caches_by_table: dict[str, InvalidatedCache[Key, Persona] | InvalidatedCache[Key, Scenario]
                                    | InvalidatedCache[Key, Archetype]] = {
            "personas": self._personas, "scenarios": self._scenarios, "archetypes": self._archetypes}
        # Renderings of cached objects; a patch lookup is a new object unless it is the shared empty one.
        self._renders: ResponseMemo[RenderedPrompt] = ResponseMemo(templates.render_prompt)

    def invalidate(self, table: str, organization: str, resource_id: str) -> None:
        """Called for every committed change, local or announced by another replica."""
        cache = self._caches_by_table.get(table)
        if cache is not None:
            cache.invalidate((organization, resource_id))

    async def _cached_read(self, cache: InvalidatedCache[Key, Cached], key: Key,
                           read: Callable[[CatalogueUnitOfWork], Awaitable[Cached | None]],
                           resource_name: str) -> Cached:
        """A resource of ``key``'s organization from its read cache, else from the database; NOT_FOUND if it is in
        neither (whether or not another organization holds that id)."""

        async def load() -> Cached | None:
            async with self._read(key[0]) as uow:
                return await read(uow)

        found = await cache.get_or_load(key, load)
        if found is None:
            raise NotFound(resource_name)
        return found

    # --- personas -----------------------------------------------------------------------------

    async def get_persona(self, organization: str, persona_id: str) -> Persona:
        return await self._cached_read(self._personas, (organization, persona_id),
                                       lambda uow: uow.personas.get(persona_id), f"personas/{persona_id}")

    async def list_personas(self, organization: str, where: PersonaFilter, requested_size: int,
                            token: str) -> Page[Persona]:
        check_persona_filter(where)
        size = page_size(requested_size)
        filters = dataclasses.asdict(where)
        cursor = self._tokens.decode(token, filters)
        after = (datetime.fromisoformat(cursor[0]), cursor[1]) if cursor else None
        async with self._read(organization) as uow:
            keys = await uow.personas.list_keys(where, after, size + 1)
            found = await self._personas_by_key(uow, organization, keys)
        items = [found[persona_id] for persona_id, _ in keys if persona_id in found]
        next_token = ""
        if len(keys) > size:
            items = items[:size]
            last = items[-1]
            next_token = self._tokens.encode([last.create_time.isoformat(), last.id], filters)
        return Page(items, next_token)

    async def _personas_by_key(self, uow: CatalogueUnitOfWork, organization: str,
                               keys: list[tuple[str, int]]) -> dict[str, Persona]:
        """The personas of (id, revision) pairs: from the cache where it holds that revision, else read at once."""
        generation = self._personas.generation
        found: dict[str, Persona] = {}
        missing: list[str] = []
        for persona_id, revision in keys:
            cached = self._personas.get((organization, persona_id))
            if cached is not None and cached.revision == revision:
                found[persona_id] = cached
            else:
                missing.append(persona_id)
        if missing:
            for persona in await uow.personas.get_many(missing):
                found[persona.id] = persona
                self._personas.put((organization, persona.id), persona, generation)
        return found

    async def create_persona(self, fields: PersonaFields, persona_id: str, mutation: Mutation) -> Persona:
        violations = Violations()
        if persona_id:
            check_resource_id(violations, "persona_id", persona_id)
        caller = mutation.caller
        # The creator is the first owner, whoever else the request names.
        fields = dataclasses.replace(fields, owners=(caller.actor, *(o for o in fields.owners if o != caller.actor)))
        validate_owners(fields.owners, violations)
        self._check_persona(fields, violations, check_templates=True)
        if fields.protected and not caller.is_admin:
            raise PermissionDenied("creating a protected persona needs the admin role", reason="ADMIN_REQUIRED")
        organization = _organization_of(caller)
        persona_id = persona_id or str(uuid.uuid4())

        async def run() -> Persona:
            await self._check_archetype(uow, fields.archetype_id)
            if await uow.personas.get(persona_id) is not None:
                raise AlreadyExists(f"personas/{persona_id} already exists", reason="PERSONA_EXISTS",
                                    metadata={"resource": f"personas/{persona_id}"})
            await self._check_slug_free(uow, fields.slug, persona_id)
            now = _now()
            persona = Persona(id=persona_id, fields=fields, revision=1, create_time=now, update_time=now)
            await uow.personas.add(persona)
            await uow.personas.add_version(PersonaVersion(persona_id, 1, ChangeKind.CREATE, 0, persona, now))
            return persona

        async with self._transaction(organization) as uow:
            persona = await self._commit_once(uow, "CreatePersona", mutation, run, Persona)
        self._personas.invalidate((organization, persona.id))
        return persona

    async def update_persona(
        self, persona_id: str, incoming: PersonaFields, mask: frozenset[str], etag: str, mutation: Mutation
    ) -> Persona:
        async def change(uow: CatalogueUnitOfWork, current: Persona) -> tuple[PersonaFields, ChangeKind, int]:
            require_right_to_change(mutation.caller, current, "changing", current.resource_name)
            fields = dataclasses.replace(current.fields, **{name: getattr(incoming, name) for name in mask})
            _require_admin_to_protect(fields, mutation.caller)
            violations = Violations()
            if "owners" in mask:
                validate_owners(fields.owners, violations)
            self._check_persona(fields, violations, check_templates=bool(
                mask & {"prompt_template", "first_message_template"}))
            if "archetype_id" in mask:
                await self._check_archetype(uow, fields.archetype_id)
            if "slug" in mask:
                await self._check_slug_free(uow, fields.slug, persona_id)
            return fields, ChangeKind.UPDATE, 0

        return await self._write_version(persona_id, etag, mutation, "UpdatePersona", change, allow_deleted=False)

    async def delete_persona(self, persona_id: str, etag: str, mutation: Mutation) -> Persona:
        return await self._set_deleted(persona_id, etag, mutation, deleted=True)

    async def undelete_persona(self, persona_id: str, etag: str, mutation: Mutation) -> Persona:
        return await self._set_deleted(persona_id, etag, mutation, deleted=False)

    async def _set_deleted(self, persona_id: str, etag: str, mutation: Mutation, deleted: bool) -> Persona:
        method = "DeletePersona" if deleted else "UndeletePersona"

        async def change(uow: CatalogueUnitOfWork, current: Persona) -> tuple[PersonaFields, ChangeKind, int]:
            require_right_to_change(mutation.caller, current, "deleting" if deleted else "restoring",
                                    current.resource_name)
            if current.deleted == deleted:
                state = "already deleted" if deleted else "not deleted"
                raise FailedPrecondition(f"{current.resource_name} is {state}",
                                         reason="PERSONA_DELETED" if deleted else "PERSONA_NOT_DELETED",
                                         metadata={"resource": current.resource_name})
            return current.fields, ChangeKind.DELETE if deleted else ChangeKind.UNDELETE, 0

        return await self._write_version(persona_id, etag, mutation, method, change, allow_deleted=True,
                                         deleted=deleted)

    async def rollback_persona(self, persona_id: str, revision: int, etag: str, mutation: Mutation) -> Persona:
        async def change(uow: CatalogueUnitOfWork, current: Persona) -> tuple[PersonaFields, ChangeKind, int]:
            require_right_to_change(mutation.caller, current, "rolling back", current.resource_name)
            target = await uow.personas.get_version(persona_id, revision)
            if target is None:
                raise NotFound(f"personas/{persona_id}/versions/{revision}", reason="VERSION_NOT_FOUND")
            # The content comes back; who may change it stays as it is now.
            fields = dataclasses.replace(target.snapshot.fields, owners=current.fields.owners)
            _require_admin_to_protect(fields, mutation.caller)
            await self._check_archetype(uow, fields.archetype_id)
            await self._check_slug_free(uow, fields.slug, persona_id)
            return fields, ChangeKind.ROLLBACK, revision

        return await self._write_version(persona_id, etag, mutation, "RollbackPersona", change, allow_deleted=False)

    async def record_variant_promotion(self, persona_id: str, promotion: VariantPromotion,
                                       mutation: Mutation) -> tuple[Persona, PersonaVersion]:
        """A new version of the persona recording ``promotion``, its fields unchanged; the version an earlier call
        for the same experiment wrote, if one did."""
        organization = mutation.caller.organization
        async with self._transaction(organization) as uow:
            current = await uow.personas.get(persona_id, for_update=True)
            if current is None:
                raise NotFound(f"personas/{persona_id}")
            earlier = await uow.personas.promotion_version(persona_id, promotion.experiment)
            if earlier is not None:
                return current, earlier
            if current.deleted:
                raise FailedPrecondition(f"{current.resource_name} is deleted; undelete it first",
                                         reason="PERSONA_DELETED", metadata={"resource": current.resource_name})
            now = _now()
            persona = dataclasses.replace(current, revision=current.revision + 1, update_time=now)
            version = PersonaVersion(persona_id, persona.revision, ChangeKind.VARIANT_PROMOTION, 0, persona, now,
                                     promotion)
            await uow.personas.save(persona)
            await uow.personas.add_version(version)
            await uow.commit()
        self._personas.invalidate((organization, persona_id))
        return persona, version

    async def _write_version(self, persona_id: str, etag: str, mutation: Mutation, method: str, change: PersonaChange,
                             *, allow_deleted: bool, deleted: bool | None = None) -> Persona:
        """Locks the persona, applies ``change`` and writes the new state as the next version."""

        async def run() -> Persona:
            current = await uow.personas.get(persona_id, for_update=True)
            if current is None:
                raise NotFound(f"personas/{persona_id}")
            if current.deleted and not allow_deleted:
                raise FailedPrecondition(f"{current.resource_name} is deleted; undelete it first",
                                         reason="PERSONA_DELETED", metadata={"resource": current.resource_name})
            _check_etag(current.resource_name, etag, current.etag)
            fields, kind, restored = await change(uow, current)
            now = _now()
            delete_time = current.delete_time if deleted is None else (now if deleted else None)
            persona = dataclasses.replace(current, fields=fields, revision=current.revision + 1,
                                          update_time=now, delete_time=delete_time)
            await uow.personas.save(persona)
            await uow.personas.add_version(
                PersonaVersion(persona_id, persona.revision, kind, restored, persona, now))
            return persona

        organization = mutation.caller.organization
        async with self._transaction(organization) as uow:
            persona = await self._commit_once(uow, method, mutation, run, Persona)
        self._personas.invalidate((organization, persona_id))
        return persona

    @staticmethod
    async def _commit_once(uow: CatalogueUnitOfWork, method: str, mutation: Mutation,
                           run: Callable[[], Awaitable[Result]], result_type: type[Result] | None) -> Result:
        """Runs ``run`` once per request id and commits; a retry is answered with the first result."""
        result = await run_idempotent(uow.requests, mutation, method, run, result_type)
        await uow.commit()
        return result

    def _check_persona(self, fields: PersonaFields, violations: Violations, check_templates: bool) -> None:
        validate_persona_fields(fields, violations)
        if check_templates:
            templates.check_template(fields.prompt_template, "persona.prompt_template", violations)
            templates.check_template(fields.first_message_template, "persona.first_message_template", violations)
        violations.raise_if_any()

    @staticmethod
    async def _check_archetype(uow: CatalogueUnitOfWork, archetype_id: str) -> None:
        if archetype_id and await uow.archetypes.get(archetype_id) is None:
            raise InvalidArgument(FieldViolation("persona.archetype", f"archetypes/{archetype_id} does not exist"),
                                  reason="UNKNOWN_ARCHETYPE")

    @staticmethod
    async def _check_slug_free(uow: CatalogueUnitOfWork, slug: str, persona_id: str) -> None:
        holder = await uow.personas.id_of_slug(slug)
        if holder is not None and holder != persona_id:
            raise AlreadyExists(f"slug {slug!r} is already used by personas/{holder}", reason="SLUG_TAKEN",
                                metadata={"slug": slug, "resource": f"personas/{holder}"})

    # --- versions -----------------------------------------------------------------------------

    async def get_version(self, organization: str, persona_id: str, revision: int) -> PersonaVersion:
        async with self._read(organization) as uow:
            version = await uow.personas.get_version(persona_id, revision)
            if version is None:
                if await uow.personas.get(persona_id) is None:
                    raise NotFound(f"personas/{persona_id}")
                raise NotFound(f"personas/{persona_id}/versions/{revision}", reason="VERSION_NOT_FOUND")
        return version

    async def list_versions(self, organization: str, persona_id: str, requested_size: int,
                            token: str) -> Page[PersonaVersion]:
        size = page_size(requested_size)
        before = self._tokens.decode(token, {"parent": persona_id})
        async with self._read(organization) as uow:
            if await uow.personas.get(persona_id) is None:
                raise NotFound(f"personas/{persona_id}")
            items = await uow.personas.list_versions(persona_id, before, size + 1)
        return Page(*self._tokens.page(items, size, lambda v: v.revision, {"parent": persona_id}))

    # --- search -------------------------------------------------------------------------------

    async def search(self, organization: str, query: str, blueprint: str | None,
                     requested_size: int) -> list[SearchHit]:
        query = query.strip()
        if not query:
            raise InvalidArgument(FieldViolation("query", "is required"))
        if len(query) > MAX_QUERY_LENGTH:
            raise InvalidArgument(FieldViolation("query", f"must be at most {MAX_QUERY_LENGTH} characters"))
        if "\x00" in query:
            raise InvalidArgument(FieldViolation("query", "must not contain NUL characters"))
        size = page_size(requested_size, default=SEARCH_DEFAULT, maximum=SEARCH_MAX)
        async with self._read(organization) as uow:
            return await uow.personas.search(query, blueprint, size)

    # --- rendering ----------------------------------------------------------------------------

    async def render_prompt(self, organization: str, persona_id: str, scenario_id: str, session_id: str = "",
                            candidates: Sequence[CandidatePatch] = (), withheld: Sequence[str] = ()) -> RenderedPrompt:
        """With ``session_id``, the modifications of the experiment variant the session plays are applied too; the
        candidates after them, and without the published patches withheld, for this rendering only (not memoised: no
        other rendering shows them)."""
        persona = await self.get_persona(organization, persona_id)
        if persona.deleted:
            raise FailedPrecondition(f"{persona.resource_name} is deleted", reason="PERSONA_DELETED",
                                     metadata={"resource": persona.resource_name})
        scenario = await self.get_scenario(organization, scenario_id) if scenario_id else None
        fields = persona.fields
        archetype = await self.get_archetype(organization, fields.archetype_id) if fields.archetype_id else None
        lookup = await self._patches.active_patches(organization, persona.resource_name, fields.archetype_id,
                                                    f"sessions/{session_id}" if session_id else "")
        if candidates or withheld:
            return templates.render_candidates(persona, scenario, archetype, lookup, candidates, withheld)
        key = (organization, persona_id, scenario_id, lookup.experiment, lookup.experiment_variant)
        return self._renders.response(key, persona, scenario, archetype, lookup)

    # --- scenarios ----------------------------------------------------------------------------

    async def get_scenario(self, organization: str, scenario_id: str) -> Scenario:
        return await self._cached_read(self._scenarios, (organization, scenario_id),
                                       lambda uow: uow.scenarios.get(scenario_id), f"scenarios/{scenario_id}")

    async def list_scenarios(self, organization: str, industry: str, requested_size: int,
                             token: str) -> Page[Scenario]:
        check_filter_text("industry", industry)
        size = page_size(requested_size)
        filters = {"industry": industry.lower()}
        cursor = self._tokens.decode(token, filters)
        after = (datetime.fromisoformat(cursor[0]), cursor[1]) if cursor else None
        async with self._read(organization) as uow:
            items = await uow.scenarios.list(industry or None, after, size + 1)
        return Page(*self._tokens.page(items, size, lambda s: [s.create_time.isoformat(), s.id], filters))

    async def create_scenario(self, fields: ScenarioFields, scenario_id: str, mutation: Mutation) -> Scenario:
        violations = Violations()
        if scenario_id:
            check_resource_id(violations, "scenario_id", scenario_id)
        validate_scenario_fields(fields, violations)
        violations.raise_if_any()
        organization = _organization_of(mutation.caller)
        scenario_id = scenario_id or str(uuid.uuid4())

        async def run() -> Scenario:
            if await uow.scenarios.get(scenario_id) is not None:
                raise AlreadyExists(f"scenarios/{scenario_id} already exists", reason="SCENARIO_EXISTS",
                                    metadata={"resource": f"scenarios/{scenario_id}"})
            now = _now()
            scenario = Scenario(scenario_id, fields, 1, now, now, creator=mutation.caller.actor)
            await uow.scenarios.add(scenario)
            return scenario

        async with self._transaction(organization) as uow:
            scenario = await self._commit_once(uow, "CreateScenario", mutation, run, Scenario)
        self._scenarios.invalidate((organization, scenario_id))
        return scenario

    async def update_scenario(self, scenario_id: str, incoming: ScenarioFields, mask: frozenset[str], etag: str,
                              mutation: Mutation) -> Scenario:
        async def run() -> Scenario:
            current = await uow.scenarios.get(scenario_id, for_update=True)
            if current is None:
                raise NotFound(f"scenarios/{scenario_id}")
            _require_creator(current, mutation.caller, "changing")
            _check_etag(current.resource_name, etag, current.etag)
            fields = dataclasses.replace(current.fields, **{name: getattr(incoming, name) for name in mask})
            violations = Violations()
            validate_scenario_fields(fields, violations)
            violations.raise_if_any()
            scenario = dataclasses.replace(current, fields=fields, revision=current.revision + 1, update_time=_now())
            await uow.scenarios.save(scenario)
            return scenario

        organization = mutation.caller.organization
        async with self._transaction(organization) as uow:
            scenario = await self._commit_once(uow, "UpdateScenario", mutation, run, Scenario)
        self._scenarios.invalidate((organization, scenario_id))
        return scenario

    async def delete_scenario(self, scenario_id: str, etag: str, mutation: Mutation) -> None:
        async def run() -> None:
            current = await uow.scenarios.get(scenario_id, for_update=True)
            if current is None:
                raise NotFound(f"scenarios/{scenario_id}")
            _require_creator(current, mutation.caller, "deleting")
            _check_etag(current.resource_name, etag, current.etag)
            await uow.scenarios.delete(scenario_id)

        organization = mutation.caller.organization
        async with self._transaction(organization) as uow:
            await self._commit_once(uow, "DeleteScenario", mutation, run, None)
        self._scenarios.invalidate((organization, scenario_id))

    # --- archetypes ---------------------------------------------------------------------------

    async def get_archetype(self, organization: str, archetype_id: str) -> Archetype:
        return await self._cached_read(self._archetypes, (organization, archetype_id),
                                       lambda uow: uow.archetypes.get(archetype_id), f"archetypes/{archetype_id}")

    async def list_archetypes(self, organization: str, requested_size: int, token: str) -> Page[Archetype]:
        size = page_size(requested_size)
        after = self._tokens.decode(token, {})
        async with self._read(organization) as uow:
            items = await uow.archetypes.list(after, size + 1)
        return Page(*self._tokens.page(items, size, lambda a: a.id, {}))

    async def create_archetype(self, archetype: Archetype, mutation: Mutation) -> Archetype:
        violations = Violations()
        validate_archetype(archetype, violations)
        violations.raise_if_any()
        organization = _organization_of(mutation.caller)

        async def run() -> Archetype:
            if await uow.archetypes.get(archetype.id) is not None:
                raise AlreadyExists(f"archetypes/{archetype.id} already exists", reason="ARCHETYPE_EXISTS",
                                    metadata={"resource": f"archetypes/{archetype.id}"})
            created = dataclasses.replace(archetype, create_time=_now())
            await uow.archetypes.add(created)
            return created

        async with self._transaction(organization) as uow:
            created = await self._commit_once(uow, "CreateArchetype", mutation, run, Archetype)
        self._archetypes.invalidate((organization, created.id))
        return created
