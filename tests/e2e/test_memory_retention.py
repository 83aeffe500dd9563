"""Memory older than its persona's retention (90 days unless the persona says otherwise) is deleted in the
background, counted; younger memory, and a persona keeping it longer, are untouched."""

from __future__ import annotations

import sqlalchemy as sa
from sparring.persona.v1 import memory_service_pb2 as mb
from sparring.persona.v1 import memory_service_pb2_grpc

from persona_svc.adapters.memory_retention import MemoryRetention
from tests.builders import uid
from tests.e2e.test_persona_api import create
from tests.e2e.test_persona_memory import ROUND_ONE, listed, memory_name, record, set_memory, update
from tests.probes import metric


async def age(engine, candidate: str, days: int) -> None:
    """Moves every time of the candidate's memory ``days`` into the past."""
    async with engine.begin() as connection:
        for table, column in (("facts", "valid_from"), ("episodes", "create_time"),
                              ("working_memory_revisions", "create_time"), ("working_memories", "update_time")):
            await connection.execute(sa.text(
                f"UPDATE persona.{table} SET {column} = {column} - make_interval(days => :days)"
                " WHERE candidate_id = :candidate"), {"days": days, "candidate": candidate})


async def test_memory_past_its_retention_is_deleted_and_counted(channel, personas, engine):
    memories = memory_service_pb2_grpc.MemoryServiceStub(channel)
    default, keeps_longer = await create(personas), await create(personas)
    await set_memory(memories, keeps_longer, retention_days=200)
    old, recent, kept = uid(), uid(), uid()
    for persona, candidate in ((default, old), (default, recent), (keeps_longer, kept)):
        await update(memories, memory_name(persona, candidate), "task_context", task_context="follow up")
        await record(memories, persona, candidate, uid(), ROUND_ONE)
    await age(engine, old, 91)
    await age(engine, recent, 89)
    await age(engine, kept, 150)
    before = metric("sparring_memory_retention_deleted_total", table="facts")

    deleted = await MemoryRetention(engine, batch=2).run_once()

    assert deleted == {"facts": 4, "episodes": 1, "episode_reviews": 0, "working_memory_revisions": 1,
                       "working_memories": 1}
    assert metric("sparring_memory_retention_deleted_total", table="facts") == before + 4
    gone = (await memories.GetWorkingMemory(mb.GetWorkingMemoryRequest(name=memory_name(default, old)))
            ).working_memory
    assert gone.revision == 0 and await listed(memories, default, old) == []
    for persona, candidate in ((default, recent), (keeps_longer, kept)):
        assert len(await listed(memories, persona, candidate)) == 4
        assert (await memories.GetWorkingMemory(mb.GetWorkingMemoryRequest(
            name=memory_name(persona, candidate)))).working_memory.task_context == "follow up"
