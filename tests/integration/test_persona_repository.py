"""Repositories and the catalogue service layer against a real PostgreSQL: migrations, filters, versions,
search, etag races, idempotent retries under concurrency and the NOTIFY-invalidated cache."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from persona_svc.adapters import tables
from persona_svc.adapters.learning_patches import NoPatches
from persona_svc.adapters.unit_of_work import SqlCatalogueUnitOfWork
from persona_svc.app import build_catalogue, changed_resource
from persona_svc.domain.model import (
    Archetype,
    Belief,
    Blueprint,
    ChangeKind,
    Persona,
    PersonaFilter,
    PersonaVersion,
)
from persona_svc.domain.patches import PatchSource
from persona_svc.service_layer.catalogue import Catalogue
from svckit.cache import InvalidatedCache
from svckit.db import autocommit
from svckit.errors import AlreadyExists, EtagMismatch, InvalidArgument, NotFound
from svckit.migrations import alembic_config, current_revision
from svckit.notify import PgListener
from svckit.pagination import PageTokens
from svckit.statuses import status_code_of
from svckit.usecase import Mutation
from tests.builders import caller, uid
from tests.builders import persona_fields as fields
from tests.security import ORGANIZATION, OTHER_ORGANIZATION

USER = Mutation(caller=caller(organization=ORGANIZATION))


def mutation(request_id: str = "", fingerprint: str = "") -> Mutation:
    return Mutation(caller=USER.caller, request_id=request_id, fingerprint=fingerprint)


@pytest_asyncio.fixture
async def catalogue(engine, persona_schema) -> Catalogue:
    return build_catalogue(engine, NoPatches(), PageTokens.from_secret("integration"))


# --- migrations -----------------------------------------------------------------------------------

HEAD = ScriptDirectory.from_config(alembic_config("persona_svc", "persona")).get_current_head()


async def test_migrations_apply_inside_the_persona_schema(engine, persona_schema):
    async with engine.connect() as connection:
        persona_tables = set(await connection.scalars(sa.text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'persona'")))
        elsewhere = set(await connection.scalars(sa.text(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'alembic_version'")))
        extensions = set(await connection.scalars(sa.text("SELECT extname FROM pg_extension")))
    assert {"archetypes", "personas", "persona_versions", "scenarios", "request_log",
            "alembic_version"} <= persona_tables
    assert set(tables.metadata.tables) <= {f"persona.{name}" for name in persona_tables}
    assert "persona" in elsewhere and "public" not in elsewhere
    assert "pg_trgm" in extensions
    assert await current_revision(engine, "persona") == HEAD


async def test_migrating_again_is_a_no_op(engine, persona_schema):
    from persona_svc.app import SPEC

    await SPEC.migrate(engine)
    assert await current_revision(engine, "persona") == HEAD


async def test_database_refuses_what_the_domain_refuses(engine, persona_schema):
    """The schema is a second line of defence: difficulty is checked and slugs are unique."""
    now = datetime.now(UTC)
    persona = Persona(id=f"db-{uid()}", fields=fields(difficulty=9), revision=1, create_time=now, update_time=now)
    async with SqlCatalogueUnitOfWork(engine, ORGANIZATION) as uow:
        with pytest.raises(sa.exc.IntegrityError):
            await uow.personas.add(persona)


async def test_a_uniqueness_race_lost_in_a_unit_of_work_leaves_it_as_a_conflict(engine, persona_schema):
    """What the use case's slug check could not see (a concurrent writer took the slug) ends as CONFLICT."""
    now = datetime.now(UTC)
    taken = fields()
    async with SqlCatalogueUnitOfWork(engine, ORGANIZATION) as uow:
        await uow.personas.add(Persona(id=f"first-{uid()}", fields=taken, revision=1, create_time=now,
                                       update_time=now))
        await uow.commit()
    with pytest.raises(AlreadyExists) as raised:
        async with SqlCatalogueUnitOfWork(engine, ORGANIZATION) as uow:
            await uow.personas.add(Persona(id=f"second-{uid()}", fields=taken, revision=1, create_time=now,
                                           update_time=now))
    assert raised.value.reason == "CONFLICT"
    assert isinstance(raised.value.__cause__, sa.exc.IntegrityError)


# --- repositories ---------------------------------------------------------------------------------


async def test_insert_get_and_list_with_filters(engine, persona_schema):
    domain = f"dom-{uid()}"
    archetype_id = f"arch-{uuid.uuid4().hex[:8]}"
    base = datetime.now(UTC)
    rows = [
        ("a", fields(domains=(domain,), blueprint=Blueprint.SALES, difficulty=1, archetype_id=archetype_id), None),
        ("b", fields(domains=(domain, "x"), blueprint=Blueprint.SALES, difficulty=4, active=False), None),
        ("c", fields(domains=(domain,), blueprint=Blueprint.HR, difficulty=5, archetype_id=archetype_id), None),
        ("d", fields(domains=(domain,), blueprint=Blueprint.HR, difficulty=2), base),
    ]
    ids = {}
    async with SqlCatalogueUnitOfWork(engine, ORGANIZATION) as uow:
        await uow.archetypes.add(Archetype(id=archetype_id, display_name="Owl", create_time=base))
        for offset, (key, persona_fields, deleted) in enumerate(rows):
            ids[key] = f"{key}-{uid()}"
            stamp = base + timedelta(seconds=offset)
            await uow.personas.add(Persona(id=ids[key], fields=persona_fields, revision=1, create_time=stamp,
                                           update_time=stamp, delete_time=deleted))
        await uow.commit()

    async with SqlCatalogueUnitOfWork(engine, ORGANIZATION) as uow:
        got = await uow.personas.get(ids["a"])
        assert got is not None and got.fields == rows[0][1] and got.revision == 1
        assert await uow.personas.get("no-such-persona") is None
        assert await uow.personas.id_of_slug(rows[1][1].slug) == ids["b"]

        async def listed(**where) -> list[str]:
            found = await uow.personas.list_keys(PersonaFilter(domain=domain, **where), None, 100)
            return [persona_id for persona_id, _ in found]

        assert await listed() == [ids["c"], ids["b"], ids["a"]]  # newest first, deleted hidden
        assert await listed(show_deleted=True) == [ids["d"], ids["c"], ids["b"], ids["a"]]
        assert await listed(blueprint="sales") == [ids["b"], ids["a"]]
        assert await listed(min_difficulty=2, max_difficulty=4, show_deleted=True) == [ids["d"], ids["b"]]
        assert await listed(archetype_id=archetype_id) == [ids["c"], ids["a"]]
        assert await listed(active=False) == [ids["b"]]
        assert await listed(active=True) == [ids["c"], ids["a"]]
        after = (base + timedelta(seconds=2), ids["c"])
        assert await uow.personas.list_keys(PersonaFilter(domain=domain), after, 100) == [
            (ids["b"], 1), (ids["a"], 1),
        ]
        assert await uow.personas.list_keys(PersonaFilter(domain=domain), None, 2) == [(ids["c"], 1), (ids["b"], 1)]
        assert {p.id for p in await uow.personas.get_many([ids["a"], ids["d"]])} == {ids["a"], ids["d"]}


async def test_two_organizations_hold_the_same_ids_and_slugs_and_each_reads_only_its_own(engine, persona_schema):
    now = datetime.now(UTC)
    persona_id, archetype_id, shared = f"twin-{uid()}", f"arch-{uid()}", fields(domains=(f"dom-{uid()}",))
    word = shared.domains[0]
    for organization, name in ((ORGANIZATION, "Acme Twin"), (OTHER_ORGANIZATION, "Globex Twin")):
        persona = Persona(id=persona_id, fields=dataclasses.replace(shared, display_name=name,
                                                                    archetype_id=archetype_id),
                          revision=1, create_time=now, update_time=now)
        async with SqlCatalogueUnitOfWork(engine, organization) as uow:
            await uow.archetypes.add(Archetype(id=archetype_id, display_name=name, create_time=now))
            await uow.personas.add(persona)
            await uow.personas.add_version(PersonaVersion(persona_id, 1, ChangeKind.CREATE, 0, persona, now))
            await uow.commit()

    async with SqlCatalogueUnitOfWork(engine, ORGANIZATION) as uow:
        got = await uow.personas.get(persona_id)
        assert got is not None and got.fields.display_name == "Acme Twin"
        assert [p.fields.display_name for p in await uow.personas.get_many([persona_id])] == ["Acme Twin"]
        assert await uow.personas.list_keys(PersonaFilter(domain=word), None, 10) == [(persona_id, 1)]
        assert [h.persona.fields.display_name for h in await uow.personas.search(word, None, 10)] == ["Acme Twin"]
        versions = await uow.personas.list_versions(persona_id, None, 10)
        assert [v.snapshot.fields.display_name for v in versions] == ["Acme Twin"]
        assert (await uow.archetypes.get(archetype_id)).display_name == "Acme Twin"
        assert [a.display_name for a in await uow.archetypes.list(None, 1000) if a.id == archetype_id] == ["Acme Twin"]
    async with SqlCatalogueUnitOfWork(engine, "initech") as uow:
        assert await uow.personas.get(persona_id) is None
        assert await uow.personas.id_of_slug(shared.slug) is None
        assert await uow.personas.get_version(persona_id, 1) is None
        assert await uow.archetypes.get(archetype_id) is None
        assert await uow.personas.list_keys(PersonaFilter(show_deleted=True), None, 10) == []


async def test_uncommitted_work_rolls_back(engine, persona_schema):
    now = datetime.now(UTC)
    persona = Persona(id=f"rb-{uid()}", fields=fields(), revision=1, create_time=now, update_time=now)
    async with SqlCatalogueUnitOfWork(engine, ORGANIZATION) as uow:
        await uow.personas.add(persona)
    async with SqlCatalogueUnitOfWork(engine, ORGANIZATION) as uow:
        assert await uow.personas.get(persona.id) is None


async def _statements_around_a_read(engine) -> list[str]:
    """The simple-protocol statements (BEGIN and ROLLBACK are sent so) of a unit of work reading one persona."""
    sent: list[str] = []

    def log(record) -> None:
        sent.append(record.query)

    uow = SqlCatalogueUnitOfWork(engine, ORGANIZATION)
    async with uow:
        raw = (await uow.connection.get_raw_connection()).driver_connection
        raw.add_query_logger(log)
        assert await uow.personas.get(f"none-{uid()}") is None
    await asyncio.sleep(0)  # asyncpg hands records to its loggers with call_soon: let the last one through
    raw.remove_query_logger(log)
    return sent


async def test_a_read_takes_no_transaction_and_cannot_commit(engine, persona_schema):
    sent = await _statements_around_a_read(engine)  # a writer's unit of work
    assert [statement.rstrip(";").split()[0] for statement in sent] == ["BEGIN", "ROLLBACK"]
    reads = autocommit(engine)
    assert await _statements_around_a_read(reads) == []
    async with SqlCatalogueUnitOfWork(reads, ORGANIZATION) as uow:
        with pytest.raises(RuntimeError, match="nothing to commit"):
            await uow.commit()


async def test_list_pages_through_the_service_layer(catalogue):
    domain = f"dom-{uid()}"
    created = [await catalogue.create_persona(fields(domains=(domain,)), "", USER) for _ in range(5)]
    seen, token = [], ""
    while True:
        page = await catalogue.list_personas(ORGANIZATION, PersonaFilter(domain=domain), 2, token)
        seen.extend(p.id for p in page.items)
        token = page.next_page_token
        if not token:
            break
    assert seen == [p.id for p in reversed(created)]
    first = await catalogue.list_personas(ORGANIZATION, PersonaFilter(domain=domain), 2, "")
    with pytest.raises(InvalidArgument):
        await catalogue.list_personas(ORGANIZATION, PersonaFilter(domain=domain, active=True), 2, first.next_page_token)


# --- versions -------------------------------------------------------------------------------------


async def test_every_change_writes_an_immutable_version(catalogue, engine):
    created = await catalogue.create_persona(fields(), "", USER)
    updated = await catalogue.update_persona(created.id, fields(display_name="Changed", difficulty=5),
                                             frozenset({"display_name", "difficulty"}), created.etag, USER)
    assert updated.fields == dataclasses.replace(created.fields, display_name="Changed", difficulty=5)
    deleted = await catalogue.delete_persona(created.id, updated.etag, USER)
    assert deleted.deleted
    restored = await catalogue.undelete_persona(created.id, "", USER)
    rolled = await catalogue.rollback_persona(created.id, 1, restored.etag, USER)
    assert rolled.revision == 5
    assert rolled.fields == created.fields
    assert not rolled.deleted

    page = await catalogue.list_versions(ORGANIZATION, created.id, 0, "")
    assert [(v.revision, v.change_kind, v.restored_revision) for v in page.items] == [
        (5, ChangeKind.ROLLBACK, 1), (4, ChangeKind.UNDELETE, 0), (3, ChangeKind.DELETE, 0),
        (2, ChangeKind.UPDATE, 0), (1, ChangeKind.CREATE, 0),
    ]
    assert page.items[4].snapshot == created
    assert page.items[3].snapshot == updated
    assert page.items[2].snapshot == deleted
    assert page.items[0].snapshot == rolled
    assert (await catalogue.get_version(ORGANIZATION, created.id, 1)).snapshot == created
    with pytest.raises(NotFound):
        await catalogue.get_version(ORGANIZATION, created.id, 6)

    async with SqlCatalogueUnitOfWork(engine, ORGANIZATION) as uow:
        count = await uow.connection.scalar(sa.select(sa.func.count()).select_from(tables.persona_versions).where(
            tables.persona_versions.c.persona_id == created.id))
    assert count == 5


async def test_version_pages(catalogue):
    created = await catalogue.create_persona(fields(), "", USER)
    for n in range(4):
        await catalogue.update_persona(created.id, fields(description=f"edit {n}"), frozenset({"description"}), "",
                                       USER)
    first = await catalogue.list_versions(ORGANIZATION, created.id, 3, "")
    second = await catalogue.list_versions(ORGANIZATION, created.id, 3, first.next_page_token)
    assert [v.revision for v in first.items] == [5, 4, 3]
    assert [v.revision for v in second.items] == [2, 1]
    assert second.next_page_token == ""


# --- search ---------------------------------------------------------------------------------------


async def test_full_text_search_ranks_by_where_the_words_are(catalogue):
    word = uid()
    in_name = await catalogue.create_persona(fields(display_name=f"Ada {word}", beliefs=()), "", USER)
    in_domain = await catalogue.create_persona(fields(display_name="Board Member", domains=(word,), beliefs=()),
                                               "", USER)
    in_belief = await catalogue.create_persona(
        fields(display_name="Board Member", beliefs=(Belief(f"{word} never ships"),)), "", USER)
    hits = await catalogue.search(ORGANIZATION, word, None, 10)
    assert [h.persona.id for h in hits] == [in_name.id, in_domain.id, in_belief.id]
    assert hits[0].relevance > hits[1].relevance > hits[2].relevance > 0

    assert [h.persona.id for h in await catalogue.search(ORGANIZATION, word, "sales", 10)] == [
        in_name.id, in_domain.id, in_belief.id,
    ]
    assert await catalogue.search(ORGANIZATION, word, "fullstack", 10) == []
    assert len(await catalogue.search(ORGANIZATION, word, None, 2)) == 2


async def test_full_text_search_stems_words_in_descriptions(catalogue):
    word = uid()
    persona = await catalogue.create_persona(
        fields(description=f"She negotiates renewals for {word} logistics"), "", USER)
    hits = await catalogue.search(ORGANIZATION, f"negotiating {word}", None, 10)
    assert [h.persona.id for h in hits] == [persona.id]


async def test_trigram_search_finds_a_misspelt_name(catalogue):
    letters = "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:7])
    persona = await catalogue.create_persona(fields(display_name=f"Bartholomew {letters}stein"), "", USER)
    for misspelt in (f"Bartholemew {letters}stien", f"bartholomew {letters}", f"{letters}stein"):
        hits = await catalogue.search(ORGANIZATION, misspelt, None, 5)
        assert hits and hits[0].persona.id == persona.id, misspelt


async def test_search_hides_deleted_personas(catalogue):
    word = uid()
    persona = await catalogue.create_persona(fields(display_name=f"Gone {word}"), "", USER)
    await catalogue.delete_persona(persona.id, "", USER)
    assert await catalogue.search(ORGANIZATION, word, None, 10) == []
    await catalogue.undelete_persona(persona.id, "", USER)
    assert [h.persona.id for h in await catalogue.search(ORGANIZATION, word, None, 10)] == [persona.id]


async def test_search_document_follows_updates(catalogue):
    old, new = uid(), uid()
    persona = await catalogue.create_persona(fields(description=f"About {old}"), "", USER)
    await catalogue.update_persona(persona.id, fields(description=f"About {new}"), frozenset({"description"}), "",
                                   USER)
    assert await catalogue.search(ORGANIZATION, old, None, 10) == []
    assert [h.persona.id for h in await catalogue.search(ORGANIZATION, new, None, 10)] == [persona.id]


# --- concurrency ----------------------------------------------------------------------------------


async def test_etag_race_has_exactly_one_winner(catalogue):
    created = await catalogue.create_persona(fields(), "", USER)

    async def update(name: str):
        return await catalogue.update_persona(created.id, fields(display_name=name), frozenset({"display_name"}),
                                              created.etag, USER)

    results = await asyncio.gather(update("Winner A"), update("Winner B"), return_exceptions=True)
    winners = [r for r in results if isinstance(r, Persona)]
    losers = [r for r in results if not isinstance(r, Persona)]
    assert len(winners) == 1 and len(losers) == 1
    assert isinstance(losers[0], EtagMismatch)
    assert status_code_of(losers[0]).name == "ABORTED"
    assert losers[0].metadata["current_etag"] == winners[0].etag

    current = await catalogue.get_persona(ORGANIZATION, created.id)
    assert current == winners[0]
    assert current.revision == 2
    page = await catalogue.list_versions(ORGANIZATION, created.id, 0, "")
    assert [v.revision for v in page.items] == [2, 1]


async def test_many_racing_writers_with_one_etag_still_have_one_winner(catalogue):
    created = await catalogue.create_persona(fields(), "", USER)
    results = await asyncio.gather(*(
        catalogue.update_persona(created.id, fields(difficulty=1 + n % 5), frozenset({"difficulty"}), created.etag,
                                 USER)
        for n in range(6)
    ), return_exceptions=True)
    assert sum(isinstance(r, Persona) for r in results) == 1
    assert sum(isinstance(r, EtagMismatch) for r in results) == 5
    assert (await catalogue.get_persona(ORGANIZATION, created.id)).revision == 2


async def test_concurrent_creates_with_one_request_id_create_one_persona(catalogue, engine):
    persona_fields = fields()
    request = mutation(request_id=str(uuid.uuid4()), fingerprint="same-request")
    results = await asyncio.gather(*(catalogue.create_persona(persona_fields, "", request) for _ in range(4)))
    assert all(r == results[0] for r in results)
    async with SqlCatalogueUnitOfWork(engine, ORGANIZATION) as uow:
        count = await uow.connection.scalar(sa.select(sa.func.count()).select_from(tables.personas).where(
            tables.personas.c.slug == persona_fields.slug))
    assert count == 1
    assert (await catalogue.get_persona(ORGANIZATION, results[0].id)) == results[0]


async def test_request_id_with_another_fingerprint_is_refused(catalogue, engine):
    request_id = str(uuid.uuid4())
    await catalogue.create_persona(fields(), "", mutation(request_id, "first"))
    other = fields()
    with pytest.raises(InvalidArgument) as raised:
        await catalogue.create_persona(other, "", mutation(request_id, "second"))
    assert raised.value.violations[0].field == "request_id"
    async with SqlCatalogueUnitOfWork(engine, ORGANIZATION) as uow:
        assert await uow.personas.id_of_slug(other.slug) is None


async def test_a_failed_request_does_not_burn_its_request_id(catalogue):
    taken = await catalogue.create_persona(fields(), "", USER)
    request = mutation(str(uuid.uuid4()), "fp")
    with pytest.raises(AlreadyExists):
        await catalogue.create_persona(fields(slug=taken.fields.slug), "", request)
    created = await catalogue.create_persona(fields(), "", request)
    assert created.id != taken.id


async def test_concurrent_creates_of_one_slug_conflict_cleanly(catalogue):
    slug = f"race-{uid()}"
    results = await asyncio.gather(*(catalogue.create_persona(fields(slug=slug), "", USER) for _ in range(3)),
                                   return_exceptions=True)
    assert sum(isinstance(r, Persona) for r in results) == 1
    assert all(isinstance(r, AlreadyExists) for r in results if not isinstance(r, Persona))


# --- rendering through the service layer ----------------------------------------------------------


async def test_render_without_a_learning_service(catalogue):
    persona = await catalogue.create_persona(fields(difficulty=2), "", USER)
    rendered = await catalogue.render_prompt(ORGANIZATION, persona.id, "")
    assert rendered.patch_source == PatchSource.DISABLED
    assert rendered.applied_patches == ()
    assert rendered.system_prompt.startswith(f"You are {persona.fields.display_name}. Difficulty 2 ")


# --- the cache kept fresh by NOTIFY ---------------------------------------------------------------


async def test_cache_is_invalidated_by_notify_from_another_connection(engine, persona_schema, database_url):
    caches = (InvalidatedCache("personas"), InvalidatedCache("scenarios"), InvalidatedCache("archetypes"))
    catalogue = build_catalogue(engine, NoPatches(), PageTokens.from_secret("integration"), *caches)
    heard: dict[str, asyncio.Event] = {}

    def expect(resource: str) -> asyncio.Event:
        heard[resource] = asyncio.Event()
        return heard[resource]

    def on_change(payload: str) -> None:  # as persona_svc/app.py wires it, plus a signal for the test
        catalogue.invalidate(*changed_resource(payload))
        if payload in heard:
            heard[payload].set()

    def on_connected() -> None:
        for cache in caches:
            cache.enable()

    lost = asyncio.Event()

    def on_disconnected() -> None:
        for cache in caches:
            cache.disable()
        lost.set()

    # Named, so that only this listener's connection is cut below (a persona server may be listening too).
    application_name = f"cache-test-{uuid.uuid4().hex[:8]}"
    listener_url = database_url + ("&" if "?" in database_url else "?") + f"application_name={application_name}"
    listener = PgListener("persona-test", listener_url, {"persona_changes": on_change},
                          on_connected=on_connected, on_disconnected=on_disconnected)
    await listener.start()
    try:
        assert all(cache.enabled for cache in caches)
        persona_id = f"cached-{uid()}"
        created_heard = expect(f"personas:{persona_id}:{ORGANIZATION}")
        await catalogue.create_persona(fields(), persona_id, USER)
        await asyncio.wait_for(created_heard.wait(), timeout=10)  # the create's own NOTIFY is behind us

        first = await catalogue.get_persona(ORGANIZATION, persona_id)
        assert await catalogue.get_persona(ORGANIZATION, persona_id) is first  # served from the cache

        changed_heard = expect(f"personas:{persona_id}:{ORGANIZATION}")
        async with engine.begin() as other:  # another writer, as another replica would be
            await other.execute(sa.text(
                "UPDATE persona.personas SET display_name = :name, revision = revision + 1, "
                "fields = jsonb_set(fields, '{display_name}', to_jsonb(CAST(:name AS text))) WHERE id = :id"),
                {"name": "Changed Elsewhere", "id": persona_id})
        await asyncio.wait_for(changed_heard.wait(), timeout=10)

        fresh = await catalogue.get_persona(ORGANIZATION, persona_id)
        assert fresh is not first
        assert fresh.fields.display_name == "Changed Elsewhere"
        assert fresh.revision == 2
        assert await catalogue.get_persona(ORGANIZATION, persona_id) is fresh  # and cached again

        # While the LISTEN connection is down nothing can be heard, so the cache is bypassed until it is back.
        async with engine.connect() as admin:
            killed = list(await admin.scalars(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"),
                {"name": application_name}))
        assert killed == [True]
        await asyncio.wait_for(lost.wait(), timeout=10)
        assert not any(cache.enabled for cache in caches)
        assert await catalogue.get_persona(ORGANIZATION, persona_id) is not fresh  # read through, not cached
        await asyncio.wait_for(listener.connected.wait(), timeout=10)
        assert all(cache.enabled for cache in caches)
    finally:
        await listener.stop()
