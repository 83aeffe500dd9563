"""A persona's working memory of a candidate through the public API: read, change one key, clear, history and
restore, limits, tenancy, and the memory section RenderPrompt adds."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio
import sqlalchemy as sa
from google.protobuf import field_mask_pb2
from sparring.persona.v1 import memory_service_pb2 as mb
from sparring.persona.v1 import memory_service_pb2_grpc, persona_service_pb2_grpc
from sparring.persona.v1 import persona_service_pb2 as pb

from persona_svc.app import ERROR_DOMAIN, build
from persona_svc.config import PersonaSettings
from tests.builders import uid
from tests.e2e.status_details import rejected_in
from tests.e2e.test_persona_api import create
from tests.probes import metric
from tests.security import OTHER_ORGANIZATION, token


@pytest_asyncio.fixture(scope="module")
async def memories(persona_server, connect) -> memory_service_pb2_grpc.MemoryServiceStub:
    """The memory service as an interviewer of the test organization calls it."""
    return memory_service_pb2_grpc.MemoryServiceStub(connect(persona_server, token("interviewer")))


@pytest_asyncio.fixture(scope="module")
async def persona(personas) -> pb.Persona:
    return await create(personas)


def memory_name(persona: pb.Persona, candidate: str, session: str = "") -> str:
    return f"{persona.name}/candidates/{candidate}" + (f"/sessions/{session}" if session else "") + "/workingMemory"


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


async def update(memories, name: str, *paths: str, etag: str = "", request_id: str = "",
                 **content) -> mb.WorkingMemory:
    request = mb.UpdateWorkingMemoryRequest(working_memory=mb.WorkingMemory(name=name, etag=etag, **content),
                                            update_mask=mask(*paths), request_id=request_id)
    return (await memories.UpdateWorkingMemory(request)).working_memory


async def get(memories, name: str) -> mb.WorkingMemory:
    return (await memories.GetWorkingMemory(mb.GetWorkingMemoryRequest(name=name))).working_memory


async def test_one_key_at_a_time_clear_history_and_restore(memories, persona):
    name = memory_name(persona, uid())
    empty = await get(memories, name)
    assert (empty.name, empty.revision, dict(empty.scratchpad), empty.task_context) == (name, 0, {}, "")

    first = await update(memories, name, "scratchpad.promise",
                         scratchpad={"promise": "security questionnaire by Friday"})
    # Only the named key is taken: the others in the request are ignored.
    second = await update(memories, name, "scratchpad.budget", "active_goals", etag=first.etag,
                          scratchpad={"budget": "40k approved", "ignored": "x"}, active_goals=["get a pilot date"])
    assert dict(second.scratchpad) == {"budget": "40k approved", "promise": "security questionnaire by Friday"}
    assert (second.revision, list(second.active_goals)) == (2, ["get a pilot date"])
    removed = await update(memories, name, "scratchpad.budget")  # named, absent from the request: removed
    assert dict(removed.scratchpad) == {"promise": "security questionnaire by Friday"}

    cleared = (await memories.ClearWorkingMemory(mb.ClearWorkingMemoryRequest(name=name))).working_memory
    assert (cleared.revision, dict(cleared.scratchpad), list(cleared.active_goals)) == (4, {}, [])
    read = await get(memories, name)
    assert read.revision == 4 and read.last_access_time.ToDatetime() >= read.update_time.ToDatetime()

    history = (await memories.ListWorkingMemoryRevisions(
        mb.ListWorkingMemoryRevisionsRequest(parent=name))).revisions
    assert [(r.revision, r.change) for r in history] == [
        (4, mb.WORKING_MEMORY_CHANGE_CLEAR), (3, mb.WORKING_MEMORY_CHANGE_UPDATE),
        (2, mb.WORKING_MEMORY_CHANGE_UPDATE), (1, mb.WORKING_MEMORY_CHANGE_UPDATE)]
    assert list(history[2].changed_paths) == ["scratchpad.budget", "active_goals"]
    assert dict(history[2].snapshot.scratchpad) == dict(second.scratchpad)
    assert {r.actor for r in history} == {"interviewer@acme"}

    restored = (await memories.RestoreWorkingMemory(mb.RestoreWorkingMemoryRequest(
        name=name, revision=history[2].name, etag=cleared.etag))).working_memory
    assert (dict(restored.scratchpad), list(restored.active_goals)) == (dict(second.scratchpad), ["get a pilot date"])
    assert restored.revision == 5
    latest = (await memories.ListWorkingMemoryRevisions(
        mb.ListWorkingMemoryRevisionsRequest(parent=name, page_size=1))).revisions[0]
    assert (latest.change, latest.restored_revision) == (mb.WORKING_MEMORY_CHANGE_RESTORE, 2)


async def test_history_pages_and_a_retried_request_writes_once(memories, persona):
    name = memory_name(persona, uid())
    for value in ("a", "b", "c"):
        await update(memories, name, "task_context", task_context=value)
    again = [await update(memories, name, "task_context", task_context="d", request_id=f"{name}-d") for _ in range(2)]
    assert again[0] == again[1] and again[0].revision == 4
    first = await memories.ListWorkingMemoryRevisions(mb.ListWorkingMemoryRevisionsRequest(parent=name, page_size=3))
    rest = await memories.ListWorkingMemoryRevisions(mb.ListWorkingMemoryRevisionsRequest(
        parent=name, page_size=3, page_token=first.next_page_token))
    assert [r.snapshot.task_context for r in [*first.revisions, *rest.revisions]] == ["d", "c", "b", "a"]
    assert rest.next_page_token == ""


async def test_session_memory_is_kept_apart_from_the_candidates(memories, persona):
    candidate = uid()
    across, one_session = memory_name(persona, candidate), memory_name(persona, candidate, uid())
    await update(memories, one_session, "scratchpad.mood", scratchpad={"mood": "rushed"})
    assert (await get(memories, across)).revision == 0
    assert dict((await get(memories, one_session)).scratchpad) == {"mood": "rushed"}


async def test_a_block_over_its_limit_is_refused_naming_the_field_and_changes_nothing(memories, persona):
    name = memory_name(persona, uid())
    kept = await update(memories, name, "scratchpad.notes", scratchpad={"notes": "short"})
    rejection = await rejected_in(ERROR_DOMAIN, update(memories, name, "scratchpad.notes", "active_goals",
                                                       "task_context", scratchpad={"notes": "x" * 1001},
                                                       active_goals=["g"] * 11, task_context="t" * 2001),
                                  grpc.StatusCode.INVALID_ARGUMENT)
    assert rejection.reason == "MEMORY_LIMIT_EXCEEDED"
    assert set(rejection.fields) == {'working_memory.scratchpad["notes"]', "working_memory.active_goals",
                                     "working_memory.task_context"}
    many = {f"key-{i}": "v" for i in range(51)}
    block = await rejected_in(ERROR_DOMAIN, update(memories, name, "scratchpad", scratchpad=many),
                              grpc.StatusCode.INVALID_ARGUMENT)
    assert block.fields == ["working_memory.scratchpad"] and "51 keys" in block.description_of(
        "working_memory.scratchpad")
    after = await get(memories, name)
    assert (after.revision, dict(after.scratchpad)) == (kept.revision, {"notes": "short"})


@pytest.mark.parametrize(("request_", "field"), [
    (mb.UpdateWorkingMemoryRequest(working_memory=mb.WorkingMemory(name="personas/x/workingMemory"),
                                   update_mask=mask("task_context")), "working_memory.name"),
    (mb.UpdateWorkingMemoryRequest(working_memory=mb.WorkingMemory(name="personas/x/candidates/c/workingMemory")),
     "update_mask"),
    (mb.UpdateWorkingMemoryRequest(working_memory=mb.WorkingMemory(name="personas/x/candidates/c/workingMemory"),
                                   update_mask=mask("scratchpad.Not A Key")), "update_mask.paths[0]"),
    (mb.UpdateWorkingMemoryRequest(working_memory=mb.WorkingMemory(name="personas/x/candidates/c/workingMemory"),
                                   update_mask=mask("revision")), "update_mask.paths[0]"),
    (mb.RestoreWorkingMemoryRequest(name="personas/x/candidates/c/workingMemory",
                                    revision="personas/x/candidates/other/workingMemory/revisions/1"), "revision"),
], ids=["name", "no mask", "bad key", "output only", "other memory's revision"])
async def test_malformed_requests_name_the_field(memories, request_, field):
    call = (memories.UpdateWorkingMemory if isinstance(request_, mb.UpdateWorkingMemoryRequest)
            else memories.RestoreWorkingMemory)
    rejection = await rejected_in(ERROR_DOMAIN, call(request_), grpc.StatusCode.INVALID_ARGUMENT)
    assert rejection.fields == [field]


async def test_a_stale_etag_or_a_missing_revision_changes_nothing(memories, persona):
    name = memory_name(persona, uid())
    first = await update(memories, name, "task_context", task_context="first")
    await update(memories, name, "task_context", task_context="second")
    stale = await rejected_in(ERROR_DOMAIN, update(memories, name, "task_context", etag=first.etag,
                                                   task_context="lost"), grpc.StatusCode.ABORTED)
    assert stale.reason == "ETAG_MISMATCH"
    missing = await rejected_in(ERROR_DOMAIN, memories.RestoreWorkingMemory(mb.RestoreWorkingMemoryRequest(
        name=name, revision=f"{name}/revisions/9")), grpc.StatusCode.NOT_FOUND)
    assert missing.reason == "RESOURCE_NOT_FOUND"
    assert (await get(memories, name)).task_context == "second"


async def test_another_organizations_persona_memory_is_not_found_and_stays_unchanged(
        memories, persona, persona_server, connect):
    name = memory_name(persona, uid())
    await update(memories, name, "task_context", task_context="ours")
    theirs = memory_service_pb2_grpc.MemoryServiceStub(
        connect(persona_server, token("admin", organization=OTHER_ORGANIZATION)))
    for call in (theirs.GetWorkingMemory(mb.GetWorkingMemoryRequest(name=name)),
                 update(theirs, name, "task_context", task_context="theirs"),
                 theirs.ClearWorkingMemory(mb.ClearWorkingMemoryRequest(name=name)),
                 theirs.ListWorkingMemoryRevisions(mb.ListWorkingMemoryRevisionsRequest(parent=name))):
        assert (await rejected_in(ERROR_DOMAIN, call, grpc.StatusCode.NOT_FOUND)).reason == "RESOURCE_NOT_FOUND"
    assert (await get(memories, name)).task_context == "ours"


async def test_an_author_may_not_write_memory(persona_server, connect, persona):
    authors = memory_service_pb2_grpc.MemoryServiceStub(connect(persona_server, token("author")))
    refused = await rejected_in(ERROR_DOMAIN, update(authors, memory_name(persona, uid()), "task_context",
                                                     task_context="x"), grpc.StatusCode.PERMISSION_DENIED)
    assert refused.reason == "ROLE_NOT_PERMITTED"


# --- memory in the rendered prompt ---------------------------------------------------------------------------

async def test_render_for_a_candidate_ends_with_its_memory_and_shows_a_change_at_once(memories, personas, persona):
    candidate, session = uid(), uid()
    plain = await personas.RenderPrompt(pb.RenderPromptRequest(persona=persona.name))
    assert plain.memory_source == mb.MEMORY_SOURCE_NOT_REQUESTED and not plain.applied_memory

    await update(memories, memory_name(persona, candidate), "scratchpad.promise", "active_goals",
                 scratchpad={"promise": "send the security questionnaire by Friday"},
                 active_goals=["ask whether the questionnaire arrived"])
    await update(memories, memory_name(persona, candidate, session), "task_context", task_context="round 2")
    request = pb.RenderPromptRequest(persona=persona.name, candidate=f"candidates/{candidate}",
                                     session=f"sessions/{session}")
    rendered = await personas.RenderPrompt(request)
    assert rendered.memory_source == mb.MEMORY_SOURCE_LIVE and not rendered.memory_truncated
    assert [(m.block, m.key, m.text) for m in rendered.applied_memory] == [
        ("task_context", "", "- Current task: round 2"),
        ("active_goals", "", "- Goal: ask whether the questionnaire arrived"),
        ("scratchpad", "promise", "- promise: send the security questionnaire by Friday")]
    assert rendered.applied_memory[0].source == memory_name(persona, candidate, session)
    assert rendered.system_prompt.startswith(plain.system_prompt.rstrip())
    assert rendered.system_prompt.endswith("\n".join(m.text for m in rendered.applied_memory))

    await update(memories, memory_name(persona, candidate), "scratchpad.promise", scratchpad={"promise": "sent it"})
    again = await personas.RenderPrompt(request)
    assert again.system_prompt.endswith("- promise: sent it")
    other_candidate = await personas.RenderPrompt(pb.RenderPromptRequest(persona=persona.name,
                                                                         candidate=f"candidates/{uid()}"))
    assert other_candidate.system_prompt == plain.system_prompt and not other_candidate.applied_memory


def section_lookups() -> tuple[float, float]:
    return (metric("sparring_cache_lookups_total", cache="memory_sections", result="hit"),
            metric("sparring_cache_lookups_total", cache="memory_sections", result="miss"))


async def test_a_rendered_memory_section_is_reused_until_one_of_its_parts_changes(
        memories, admin_memories, personas):
    persona = await create(personas)
    candidate = uid()
    request = pb.RenderPromptRequest(persona=persona.name, candidate=f"candidates/{candidate}")
    await update(memories, memory_name(persona, candidate), "task_context", task_context="round 2")
    first = await personas.RenderPrompt(request)
    hits, misses = section_lookups()
    assert await personas.RenderPrompt(request) == first
    assert section_lookups() == (hits + 1, misses)

    await record(admin_memories, persona, candidate, uid(), ROUND_ONE)
    learned = await personas.RenderPrompt(request)
    assert {m.block for m in learned.applied_memory} == {"task_context", "episodes", "facts"}
    assert section_lookups() == (hits + 1, misses + 1)

    await set_memory(admin_memories, persona, persistence=mb.MEMORY_PERSISTENCE_SESSION_ONLY)
    assert (await personas.RenderPrompt(request)).memory_source == mb.MEMORY_SOURCE_DISABLED


async def test_the_memory_section_keeps_to_its_budget(memories, personas, persona):
    candidate = uid()
    await update(memories, memory_name(persona, candidate), "scratchpad",
                 scratchpad={f"note-{i}": "n" * 900 for i in range(5)})
    rendered = await personas.RenderPrompt(pb.RenderPromptRequest(persona=persona.name,
                                                                  candidate=f"candidates/{candidate}"))
    assert rendered.memory_truncated and [m.key for m in rendered.applied_memory] == ["note-0", "note-1"]
    assert sum(len(m.text) + 1 for m in rendered.applied_memory) <= PersonaSettings().memory_budget_chars


async def test_a_session_without_its_candidate_renders_no_memory(personas, persona):
    plain = await personas.RenderPrompt(pb.RenderPromptRequest(persona=persona.name))
    rendered = await personas.RenderPrompt(pb.RenderPromptRequest(persona=persona.name, session=f"sessions/{uid()}"))
    assert rendered.system_prompt == plain.system_prompt and not rendered.applied_memory


@pytest_asyncio.fixture
async def impatient_personas(database_url, engine, persona_schema, connect) -> AsyncIterator:
    """A persona server that waits 0.1 s for memory before rendering without it."""
    app = await build(PersonaSettings(database_url=database_url, grpc_port=0, metrics_port=0,
                                      memory_timeout_seconds=0.1), engine)
    await app.start()
    yield persona_service_pb2_grpc.PersonaServiceStub(connect(app.address, token("interviewer")))
    await app.stop(grace=1)


async def render_while_locked(engine, personas, request: pb.RenderPromptRequest, table: str) -> None:
    """Renders ``request`` while every read of ``table`` waits for another transaction: it comes without memory,
    its fallback counted once."""
    before = metric("sparring_memory_render_fallbacks_total", reason="deadline")
    async with engine.connect() as blocker:
        await blocker.begin()
        await blocker.execute(sa.text(f"LOCK TABLE persona.{table} IN ACCESS EXCLUSIVE MODE"))
        rendered = await personas.RenderPrompt(request)
        await blocker.rollback()
    assert rendered.memory_source == mb.MEMORY_SOURCE_UNAVAILABLE and not rendered.applied_memory
    assert rendered.system_prompt
    assert metric("sparring_memory_render_fallbacks_total", reason="deadline") == before + 1


async def test_memory_that_cannot_be_read_in_time_renders_without_it_and_is_counted(
        impatient_personas, engine, persona):
    request = pb.RenderPromptRequest(persona=persona.name, candidate=f"candidates/{uid()}")
    await render_while_locked(engine, impatient_personas, request, "working_memories")
    assert (await impatient_personas.RenderPrompt(request)).memory_source == mb.MEMORY_SOURCE_LIVE


async def test_renderings_that_miss_a_slow_memory_share_one_read_that_goes_on_after_their_deadline(
        impatient_personas, engine, persona):
    request = pb.RenderPromptRequest(persona=persona.name, candidate=f"candidates/{uid()}")
    facts_read = metric("sparring_cache_lookups_total", cache="learned", result="miss")
    async with engine.connect() as blocker:
        await blocker.begin()
        # Every read of facts now waits for this transaction.
        await blocker.execute(sa.text("LOCK TABLE persona.facts IN ACCESS EXCLUSIVE MODE"))
        for _ in range(2):
            assert (await impatient_personas.RenderPrompt(request)).memory_source == mb.MEMORY_SOURCE_UNAVAILABLE
        await blocker.rollback()
    assert (await impatient_personas.RenderPrompt(request)).memory_source == mb.MEMORY_SOURCE_LIVE
    assert metric("sparring_cache_lookups_total", cache="learned", result="miss") == facts_read + 1


# --- facts learned from ended sessions -----------------------------------------------------------------------

CANDIDATE, PERSONA = mb.MESSAGE_ROLE_CANDIDATE, mb.MESSAGE_ROLE_PERSONA
ROUND_ONE = [
    (CANDIDATE, "thanks for the time. what's driving the review of your vendor security process"),
    (PERSONA, "we had a near miss in an audit last year and our ciso wants every vendor assessed before renewal"),
    (CANDIDATE, "understood. our platform starts at forty thousand a year for a team your size"),
    (PERSONA, "honestly that is too expensive for a vendor nobody here knows"),
    (CANDIDATE, "fair. i'll send the security questionnaire by friday so your ciso can check us first"),
]
ROUND_TWO = [
    (CANDIDATE, "good to speak again. the questionnaire slipped, i'll send the security questionnaire on monday"),
    (PERSONA, "fine, we need it before the renewal meeting"),
]


def messages(lines) -> list[mb.SessionMessage]:
    return [mb.SessionMessage(sequence=index, role=role, text=text) for index, (role, text) in enumerate(lines, 1)]


@pytest_asyncio.fixture(scope="module")
async def admin_memories(channel) -> memory_service_pb2_grpc.MemoryServiceStub:
    return memory_service_pb2_grpc.MemoryServiceStub(channel)


async def record(memories, persona: pb.Persona, candidate: str, session: str, lines, facts=(), request_id=""):
    return (await memories.RecordSessionFacts(mb.RecordSessionFactsRequest(
        parent=f"{persona.name}/candidates/{candidate}", session=f"sessions/{session}", messages=messages(lines),
        facts=list(facts), request_id=request_id))).facts


async def listed(memories, persona: pb.Persona, candidate: str, show_superseded: bool = False) -> list[mb.Fact]:
    return list((await memories.ListFacts(mb.ListFactsRequest(
        parent=f"{persona.name}/candidates/{candidate}", show_superseded=show_superseded))).facts)


async def test_an_ended_sessions_facts_are_learned_once_with_their_messages(admin_memories, persona):
    candidate, session = uid(), uid()
    learned = await record(admin_memories, persona, candidate, session, ROUND_ONE)
    kinds = {(fact.kind, tuple(fact.message_sequences)) for fact in learned}
    assert kinds == {(mb.FACT_KIND_DISCLOSURE, (2,)), (mb.FACT_KIND_CANDIDATE_FACT, (3,)),
                     (mb.FACT_KIND_OBJECTION, (4,)), (mb.FACT_KIND_COMMITMENT, (5,))}
    promise = next(f for f in learned if f.kind == mb.FACT_KIND_COMMITMENT)
    assert promise.text == ROUND_ONE[4][1] and promise.engine == "local" and 0 < promise.confidence <= 1
    assert promise.session == f"sessions/{session}" and not promise.HasField("valid_until")
    objection = next(f for f in learned if f.kind == mb.FACT_KIND_OBJECTION)
    assert objection.outcome == mb.OBJECTION_OUTCOME_OPEN
    again = await record(admin_memories, persona, candidate, session, ROUND_ONE)
    assert sorted(f.name for f in again) == sorted(f.name for f in learned)
    assert len(await listed(admin_memories, persona, candidate)) == len(learned)


async def test_a_later_round_supersedes_a_fact_without_deleting_it(admin_memories, memories, personas, persona):
    candidate = uid()
    first = await record(admin_memories, persona, candidate, uid(), ROUND_ONE)
    second = await record(admin_memories, persona, candidate, uid(), ROUND_TWO)
    old_promise = next(f for f in first if f.kind == mb.FACT_KIND_COMMITMENT)
    new_promise = next(f for f in second if f.kind == mb.FACT_KIND_COMMITMENT)
    assert new_promise.topic == old_promise.topic
    valid = await listed(admin_memories, persona, candidate)
    assert new_promise.name in {f.name for f in valid} and old_promise.name not in {f.name for f in valid}
    kept = next(f for f in await listed(admin_memories, persona, candidate, show_superseded=True)
                if f.name == old_promise.name)
    assert kept.superseded_by == new_promise.name and kept.valid_until == new_promise.valid_from

    # Round 2's prompt remembers round 1: the new promise, the open objection, what the persona told them.
    rendered = await personas.RenderPrompt(pb.RenderPromptRequest(persona=persona.name,
                                                                  candidate=f"candidates/{candidate}"))
    lines = [m.text for m in rendered.applied_memory if m.block == "facts"]
    assert lines[0] == f"- The candidate promised: {ROUND_TWO[0][1]}"
    assert f"- You objected (it ended open): {ROUND_ONE[3][1]}" in lines
    assert f"- You told them: {ROUND_ONE[1][1]}" in lines
    assert not any("by friday" in line for line in lines)
    assert rendered.system_prompt.endswith("\n".join(m.text for m in rendered.applied_memory))


# Three earlier rounds with one candidate, each about one sample scenario's troubles, the hiring one last.
SAAS_ROUND = [
    (CANDIDATE, "how do you keep track of your saas subscriptions and their renewal dates today"),
    (PERSONA, "we don't, renewals auto-renew and half the licences belong to people who left"),
]
SECURITY_ROUND = [
    (CANDIDATE, "what worries you about an ai assistant recording your meetings"),
    (PERSONA, "recordings with health information, and a subprocessor list nobody has read since the breach"),
]
HIRING_ROUND = [
    (CANDIDATE, "why did your last two offers get declined"),
    (PERSONA, "our compensation band is below market and five interview rounds wear people out"),
]


async def test_a_rendering_adds_the_earlier_round_most_like_its_scenario_besides_the_last(
        admin_memories, personas, persona, catalogue):
    candidate, sessions = uid(), {}
    for round_lines in (SAAS_ROUND, SECURITY_ROUND, HIRING_ROUND):
        sessions[round_lines[0][1]] = session = uid()
        await record(admin_memories, persona, candidate, session, round_lines)

    async def episodes_rendered(scenario: str) -> list[mb.AppliedMemory]:
        rendered = await personas.RenderPrompt(pb.RenderPromptRequest(
            persona=persona.name, candidate=f"candidates/{candidate}", scenario=scenario))
        return [m for m in rendered.applied_memory if m.block == "episodes"]

    last = f"/episodes/{sessions[HIRING_ROUND[0][1]]}"
    for scenario, like in (("scenarios/q2-cost-reduction", SAAS_ROUND),
                           ("scenarios/vendor-security-review", SECURITY_ROUND)):
        last_call, earlier = await episodes_rendered(scenario)
        assert last_call.source.endswith(last) and "Your last call" in last_call.text
        assert earlier.source.endswith(f"/episodes/{sessions[like[0][1]]}"), scenario
        assert earlier.text.startswith("- An earlier call with them like this one")
    # The hiring round is the last call and the one most like the hiring scenario: said once, the next one after it.
    last_call, earlier = await episodes_rendered("scenarios/senior-engineer-hire")
    assert last_call.source.endswith(last) and not earlier.source.endswith(last)
    # With no scenario there is nothing to be like: the last call alone.
    (last_call,) = [m for m in (await personas.RenderPrompt(pb.RenderPromptRequest(
        persona=persona.name, candidate=f"candidates/{candidate}"))).applied_memory if m.block == "episodes"]
    assert last_call.source.endswith(last)


async def test_an_earlier_round_sharing_nothing_with_the_scenario_is_not_recalled(
        admin_memories, personas, persona, catalogue):
    candidate, last_session = uid(), uid()
    await record(admin_memories, persona, candidate, uid(), [(CANDIDATE, "4471 9083"), (PERSONA, "2265 7730")])
    await record(admin_memories, persona, candidate, last_session, SAAS_ROUND)
    rendered = await personas.RenderPrompt(pb.RenderPromptRequest(
        persona=persona.name, candidate=f"candidates/{candidate}", scenario="scenarios/vendor-security-review"))
    (last_call,) = [m for m in rendered.applied_memory if m.block == "episodes"]
    assert last_call.source.endswith(f"/episodes/{last_session}")


async def test_a_recall_that_cannot_be_read_in_time_renders_without_memory_and_is_counted(
        impatient_personas, admin_memories, engine, persona, catalogue):
    candidate = uid()
    await record(admin_memories, persona, candidate, uid(), SAAS_ROUND)
    request = pb.RenderPromptRequest(persona=persona.name, candidate=f"candidates/{candidate}",
                                     scenario="scenarios/q2-cost-reduction")
    # Every recall (and read of the last episode) waits.
    await render_while_locked(engine, impatient_personas, request, "episodes")


async def test_a_new_round_drops_the_sections_that_recalled_an_earlier_one(
        admin_memories, personas, persona, catalogue):
    candidate, saas_session, security_session = uid(), uid(), uid()
    await record(admin_memories, persona, candidate, saas_session, SAAS_ROUND)
    await record(admin_memories, persona, candidate, security_session, SECURITY_ROUND)
    request = pb.RenderPromptRequest(persona=persona.name, candidate=f"candidates/{candidate}",
                                     scenario="scenarios/q2-cost-reduction")

    async def episode_sources() -> list[str]:
        rendered = await personas.RenderPrompt(request)
        return [m.source.rpartition("/")[2] for m in rendered.applied_memory if m.block == "episodes"]

    assert await episode_sources() == [security_session, saas_session]
    hits, misses = section_lookups()
    # Kept with its recalled round: a hit reads nothing, recalls nothing.
    assert await episode_sources() == [security_session, saas_session]
    assert section_lookups() == (hits + 1, misses)
    hiring_session = uid()
    await record(admin_memories, persona, candidate, hiring_session, HIRING_ROUND)
    assert await episode_sources() == [hiring_session, saas_session]


async def test_a_fact_citing_a_message_that_does_not_exist_is_refused_and_nothing_is_learned(
        admin_memories, persona):
    candidate = uid()
    stray = mb.Fact(kind=mb.FACT_KIND_COMMITMENT, text="will send references", message_sequences=[3, 9],
                    confidence=0.9)
    rejection = await rejected_in(ERROR_DOMAIN, record(admin_memories, persona, candidate, uid(), ROUND_ONE,
                                                       facts=[stray]), grpc.StatusCode.INVALID_ARGUMENT)
    assert rejection.reason == "FACT_CITES_UNKNOWN_MESSAGE"
    assert rejection.fields == ["facts[0].message_sequences[1]"]
    assert await listed(admin_memories, persona, candidate) == []
    stray.message_sequences[:] = [3]
    given = await record(admin_memories, persona, candidate, uid(), ROUND_ONE, facts=[stray])
    assert [(f.engine, f.text) for f in given if f.engine == "caller"] == [("caller", "will send references")]


async def test_another_organizations_facts_are_not_found(admin_memories, persona, persona_server, connect):
    candidate = uid()
    await record(admin_memories, persona, candidate, uid(), ROUND_ONE)
    theirs = memory_service_pb2_grpc.MemoryServiceStub(
        connect(persona_server, token("admin", organization=OTHER_ORGANIZATION)))
    for call in (theirs.ListFacts(mb.ListFactsRequest(parent=f"{persona.name}/candidates/{candidate}")),
                 record(theirs, persona, candidate, uid(), ROUND_TWO)):
        assert (await rejected_in(ERROR_DOMAIN, call, grpc.StatusCode.NOT_FOUND)).reason == "RESOURCE_NOT_FOUND"
    assert len(await listed(admin_memories, persona, candidate)) == 4


# --- how a persona remembers -----------------------------------------------------------------------------------

async def set_memory(personas_admin, persona: pb.Persona, **fields) -> mb.MemorySettings:
    return (await personas_admin.UpdateMemorySettings(mb.UpdateMemorySettingsRequest(
        memory_settings=mb.MemorySettings(name=f"{persona.name}/memorySettings", **fields),
        update_mask=mask(*fields)))).memory_settings


async def test_memory_settings_default_to_remembering_for_90_days_and_change_only_by_owners(
        admin_memories, personas, persona_server, connect):
    persona = await create(personas)
    name = f"{persona.name}/memorySettings"
    default = (await admin_memories.GetMemorySettings(mb.GetMemorySettingsRequest(name=name))).memory_settings
    assert (default.persistence, default.retention_days) == (mb.MEMORY_PERSISTENCE_ACROSS_SESSIONS, 90)
    changed = await set_memory(admin_memories, persona, retention_days=30)
    assert (changed.persistence, changed.retention_days) == (mb.MEMORY_PERSISTENCE_ACROSS_SESSIONS, 30)
    too_long = await rejected_in(ERROR_DOMAIN, set_memory(admin_memories, persona, retention_days=0),
                                 grpc.StatusCode.INVALID_ARGUMENT)
    assert too_long.fields == ["memory_settings.retention_days"]
    not_theirs = memory_service_pb2_grpc.MemoryServiceStub(connect(persona_server, token("author")))
    refused = await rejected_in(ERROR_DOMAIN, set_memory(not_theirs, persona, retention_days=10),
                                grpc.StatusCode.PERMISSION_DENIED)
    assert refused.reason == "NOT_AN_OWNER"
    assert (await admin_memories.GetMemorySettings(mb.GetMemorySettingsRequest(name=name))
            ).memory_settings.retention_days == 30


async def test_a_persona_that_remembers_within_a_session_only_keeps_nothing_across(
        admin_memories, memories, personas):
    persona = await create(personas)
    await set_memory(admin_memories, persona, persistence=mb.MEMORY_PERSISTENCE_SESSION_ONLY)
    candidate, session = uid(), uid()
    across = await rejected_in(ERROR_DOMAIN, update(memories, memory_name(persona, candidate), "task_context",
                                                    task_context="x"), grpc.StatusCode.FAILED_PRECONDITION)
    assert across.reason == "MEMORY_SESSION_ONLY"
    await update(memories, memory_name(persona, candidate, session), "task_context", task_context="this call")
    assert await record(admin_memories, persona, candidate, session, ROUND_ONE) == []
    rendered = await personas.RenderPrompt(pb.RenderPromptRequest(
        persona=persona.name, candidate=f"candidates/{candidate}", session=f"sessions/{session}"))
    assert [m.text for m in rendered.applied_memory] == ["- Current task: this call"]


async def test_a_persona_that_remembers_within_a_session_only_waits_on_no_facts_or_episodes(
        admin_memories, memories, personas, engine, catalogue):
    persona = await create(personas)
    await set_memory(admin_memories, persona, persistence=mb.MEMORY_PERSISTENCE_SESSION_ONLY)
    candidate, session = uid(), uid()
    await update(memories, memory_name(persona, candidate, session), "task_context", task_context="this call")
    request = pb.RenderPromptRequest(persona=persona.name, candidate=f"candidates/{candidate}",
                                     session=f"sessions/{session}", scenario="scenarios/q2-cost-reduction")
    # Had it read them (or recalled an earlier call like the scenario), it would wait past its deadline.
    async with engine.connect() as blocker:
        await blocker.begin()
        await blocker.execute(sa.text("LOCK TABLE persona.facts, persona.episodes IN ACCESS EXCLUSIVE MODE"))
        rendered = await personas.RenderPrompt(request)
        await blocker.rollback()
    assert [m.text for m in rendered.applied_memory] == ["- Current task: this call"]


async def test_a_persona_that_remembers_nothing_renders_without_memory_and_refuses_writes(
        admin_memories, memories, personas):
    persona = await create(personas)
    candidate = uid()
    await update(memories, memory_name(persona, candidate), "task_context", task_context="before")
    await set_memory(admin_memories, persona, persistence=mb.MEMORY_PERSISTENCE_NONE)
    rendered = await personas.RenderPrompt(pb.RenderPromptRequest(persona=persona.name,
                                                                  candidate=f"candidates/{candidate}"))
    assert rendered.memory_source == mb.MEMORY_SOURCE_DISABLED and not rendered.applied_memory
    refused = await rejected_in(ERROR_DOMAIN, update(memories, memory_name(persona, candidate), "task_context",
                                                     task_context="after"), grpc.StatusCode.FAILED_PRECONDITION)
    assert refused.reason == "MEMORY_DISABLED"
