"""The switching rules a reading evaluates come from a cache per organization, on real PostgreSQL: a rule created or
deleted on one replica is evaluated at the next reading of another, as soon as that replica has heard of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest_asyncio
from prometheus_client import REGISTRY

from analysis_svc.adapters.unit_of_work import RULES_CHANNEL, AnalysisDatabase
from analysis_svc.domain.suggestions import CallStage
from analysis_svc.domain.switching import LiveMoment, SwitchingRule
from analysis_svc.service_layer.switching_rules import SwitchingRules
from calls.turns import Role, Turn
from svckit.notify import PgListener
from svckit.usecase import Mutation
from tests.builders import caller, uid

PERSONA, FINANCE = "personas/sarah-chen", "personas/finance"
ASKS_ABOUT_PRICING = LiveMoment(PERSONA, (Turn(1, Role.USER, "What does the pricing look like?"),), 60,
                                CallStage.EARLY)


def lookups(result: str) -> float:
    return REGISTRY.get_sample_value("sparring_cache_lookups_total",
                                     {"cache": "switching_rules", "result": result}) or 0.0


class Replica:
    """The switching rules of one analysis replica, with the listener that tells it of changes made anywhere;
    ``heard`` is set when a change of the rules reaches it."""

    def __init__(self, database: AnalysisDatabase, database_url: str) -> None:
        self.rules = SwitchingRules(database, handoffs=None)
        self.heard = asyncio.Event()
        self.listener = PgListener(f"rules-{uid()}", database_url, {RULES_CHANNEL: self._changed},
                                   on_connected=self.rules.cache.enable, on_disconnected=self.rules.cache.disable)

    def _changed(self, organization: str) -> None:
        self.rules.changed(organization)
        self.heard.set()

    async def fired(self, organization: str, handoff_open: bool = False) -> SwitchingRule | None:
        return await self.rules.fired(organization, ASKS_ABOUT_PRICING, handoff_open)


@pytest_asyncio.fixture
async def replicas(engine, database_url, analysis_schema) -> AsyncIterator[tuple[Replica, Replica]]:
    database = AnalysisDatabase(engine)
    here, there = Replica(database, database_url), Replica(database, database_url)
    await asyncio.gather(here.listener.start(), there.listener.start())
    yield here, there
    await asyncio.gather(here.listener.stop(), there.listener.stop())


def draft() -> SwitchingRule:
    return SwitchingRule(id="", from_persona=PERSONA, to_persona=FINANCE, fallback_personas=(), priority=10,
                         pattern=r"\bpricing\b", say_meter_below=0, stage="", reason="Pricing goes to finance",
                         auto_apply=False, create_time=datetime.now(UTC))


async def test_a_rule_changed_on_one_replica_applies_at_the_next_reading_of_another(replicas):
    here, there = replicas
    organization = uid()
    mutation = Mutation(caller("admin", organization=organization))
    assert await there.fired(organization) is None
    hits = lookups("hit")
    assert await there.fired(organization) is None  # from the cache this time
    assert lookups("hit") == hits + 1

    created = await here.rules.create(draft(), "", mutation)
    await there.heard.wait()
    assert await there.fired(organization) == created
    assert await there.fired(organization, handoff_open=True) is None  # its earlier suggestion is still open

    there.heard.clear()
    await here.rules.delete(created.id, mutation)
    await there.heard.wait()
    assert await there.fired(organization) is None


async def test_a_replica_sees_its_own_change_at_its_next_reading_without_waiting_for_the_notification(replicas):
    here, _ = replicas
    organization = uid()
    mutation = Mutation(caller("admin", organization=organization))
    assert await here.fired(organization) is None
    created = await here.rules.create(draft(), "", mutation)
    assert await here.fired(organization) == created
