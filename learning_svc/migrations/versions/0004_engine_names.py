"""Evolution runs name their engines as the analysis service does, "local" and "openai", in their options, their
refinements stage and each validation result; the proto enum names are given at the gRPC boundary only.

Revision ID: 0004
Revises: 0003
"""

from svckit.migrations import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_NAMES = {"ENGINE_LOCAL": "local", "ENGINE_OPENAI": "openai"}


def _rename(names: dict[str, str]) -> str:
    # Every "engine" member of a run's document, at any depth, as jsonb prints it.
    updates = "".join(
        f"""
        UPDATE learning.runs SET document = replace(document::text, '"engine": "{old}"', '"engine": "{new}"')::jsonb
            WHERE kind = 'evolution' AND document::text LIKE '%"engine": "{old}"%';"""
        for old, new in names.items()
    )
    return updates


def upgrade() -> None:
    execute_script(_rename(_NAMES))


def downgrade() -> None:
    execute_script(_rename({new: old for old, new in _NAMES.items()}))
