"""Fault scenarios (processes killed, connections cut, PostgreSQL stopped, a misbehaving model endpoint,
shutdown under load) run against the same real servers and clients as the end-to-end layer."""

from tests.e2e.conftest import *  # noqa: F403  (the end-to-end fixtures: real servers on port 0, real stubs)

# The openai-configured analysis and learning servers of the end-to-end layer; a module using them names its own
# ``fake_openai`` endpoint.
from tests.e2e.test_analysis_openai import openai_analyses, openai_server  # noqa: F401
from tests.e2e.test_learning_openai import (  # noqa: F401
    finished_here,
    openai_database,
    openai_database_url,
    openai_learning_address,
    openai_learnings,
)
