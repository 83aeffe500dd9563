"""Every service's migrations apply from scratch and from each earlier revision a database may be at."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from analysis_svc.app import SPEC as ANALYSIS
from learning_svc.app import SPEC as LEARNING
from persona_svc.app import SPEC as PERSONA
from svckit.db import make_engine
from svckit.migrations import upgrade
from transcript_svc.app import SPEC as TRANSCRIPT

# A table each schema must have at head (None: the schema has no tables yet).
EXPECTED = [(PERSONA, "personas"), (TRANSCRIPT, "messages"), (ANALYSIS, "voice_analysis"), (LEARNING, None)]


@pytest.mark.parametrize(("spec", "table"), EXPECTED, ids=lambda v: getattr(v, "name", v))
async def test_a_database_at_the_first_revision_reaches_head(own_database_url, spec, table):
    engine = make_engine(own_database_url, pool_size=2)
    try:
        await upgrade(engine, spec.package, spec.schema, "0001")
        await spec.migrate(engine)
        await spec.migrate(engine)  # running again changes nothing
        if table is not None:
            async with engine.connect() as connection:
                found = await connection.scalar(sa.text("SELECT to_regclass(:name) IS NOT NULL"),
                                                {"name": f"{spec.schema}.{table}"})
            assert found
    finally:
        await engine.dispose()
