"""Fault scenarios (processes killed, connections cut, PostgreSQL stopped, a misbehaving model endpoint,
shutdown under load) run against the same real servers and clients as the end-to-end layer."""

from tests.e2e.conftest import *  # noqa: F403  (the end-to-end fixtures: real servers on port 0, real stubs)
