"""`make run`: PostgreSQL (embedded unless DATABASE_URL is set), a local CA with certificates and tokens, the four
services with TLS and authentication, the sample catalogue.

Ctrl-C (or SIGTERM) stops the services gracefully, then the embedded PostgreSQL.

With `--engine scripted` (`make run ENGINE=scripted`), the learning service's openai engine is the scripted model of
devtools/scripted_model.py, served by this process on loopback, and the engine of runs that name none: what
`make loop ENGINE=scripted` closes the loop on.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devtools.credentials import (
    DEVELOPMENT_ORGANIZATION,
    LocalCredentials,
    development_channel,
    development_credentials,
    insecure_development,
    local_credentials,
)
from devtools.endpoints import endpoints
from svckit import eventloop
from svckit.embedded_pg import EmbeddedPostgres

DATABASE_NAME = "sparring"
STARTUP_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 20


SERVICES = endpoints()
BY_NAME = {s.name: s for s in SERVICES}
# The ready tokens `make run` writes: one per role in the sample organization, and an admin of a second one.
OTHER_ORGANIZATION = "globex"
ROLES = ("admin", "author", "interviewer", "gateway", "analyst")
TOKEN_LIFETIME = datetime.timedelta(days=7)


def _peer_addresses() -> dict[str, str]:
    """Who calls whom: each service learns its peers' addresses from these variables."""
    return {
        "PERSONA_LEARNING_ADDRESS": BY_NAME["learning"].address,
        "PERSONA_TRANSCRIPT_ADDRESS": BY_NAME["transcript"].address,
        "TRANSCRIPT_ANALYSIS_ADDRESS": BY_NAME["analysis"].address,
        "ANALYSIS_TRANSCRIPT_ADDRESS": BY_NAME["transcript"].address,
        "ANALYSIS_LEARNING_ADDRESS": BY_NAME["learning"].address,
        "ANALYSIS_PERSONA_ADDRESS": BY_NAME["persona"].address,
        "TRANSCRIPT_PERSONA_ADDRESS": BY_NAME["persona"].address,
        "TRANSCRIPT_LEARNING_ADDRESS": BY_NAME["learning"].address,
        "LEARNING_PERSONA_ADDRESS": BY_NAME["persona"].address,
    }


async def _ensure_database(server_url: str) -> str:
    connection = await asyncpg.connect(server_url)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE_NAME)
        if not exists:
            await connection.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    finally:
        await connection.close()
    head, _, query = server_url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{DATABASE_NAME}" + (f"?{query}" if query else "")


def _health_channel(address: str, credentials: LocalCredentials | None) -> grpc.Channel:
    if credentials is None:
        return grpc.insecure_channel(address)
    return grpc.secure_channel(address, grpc.ssl_channel_credentials(credentials.ca_file.read_bytes()))


def _healthy(address: str, credentials: LocalCredentials | None) -> bool:
    with _health_channel(address, credentials) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
        except grpc.RpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING


def _wait_until_serving(processes: dict[str, subprocess.Popen], credentials: LocalCredentials | None) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    waiting = dict(processes)
    while waiting:
        for name, process in list(waiting.items()):
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode} while starting; see its log above")
            if _healthy(BY_NAME[name].address, credentials):
                del waiting[name]
        if waiting and time.monotonic() > deadline:
            raise RuntimeError(f"not serving after {STARTUP_TIMEOUT_SECONDS}s: {', '.join(waiting)}")
        if waiting:
            time.sleep(0.2)  # polling interval of the health checks


def _stop(processes: dict[str, subprocess.Popen]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for name, process in processes.items():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop in {STOP_TIMEOUT_SECONDS}s; killing it", file=sys.stderr)
            process.kill()
            process.wait()


async def _load_catalogue() -> str:
    from devtools.catalogue_loader import load_catalogue

    async with development_channel(BY_NAME["persona"].address, "admin", subject="catalogue-loader") as channel:
        report = await load_catalogue(channel)
    return f"{report.created} created, {report.existing} already there"


def _write_tokens(credentials: LocalCredentials) -> dict[str, Path]:
    """A token per role of the sample organization, and one of an admin of another, each in its own file."""
    tokens = {}
    wanted = [(role, DEVELOPMENT_ORGANIZATION) for role in ROLES] + [("admin", OTHER_ORGANIZATION)]
    for role, organization in wanted:
        name = role if organization == DEVELOPMENT_ORGANIZATION else f"{organization}-{role}"
        path = credentials.directory / "tokens" / f"{name}.jwt"
        path.write_text(credentials.mint(f"{name}@{organization}", [role], organization, TOKEN_LIFETIME))
        path.chmod(0o600)
        tokens[name] = path
    return tokens


def _shown(path: Path) -> Path:
    """``path`` relative to the working directory when it is under it: shorter commands to copy."""
    here = Path.cwd()
    return path.relative_to(here) if path.is_relative_to(here) else path


def _how_to_call(credentials: LocalCredentials | None, tokens: dict[str, Path]) -> str:
    persona = BY_NAME["persona"].address
    cli = f"""  .venv/bin/python -m persona_svc.cli --address {persona} list --blueprint sales
  .venv/bin/python -m persona_svc.cli --address {persona} render sarah-chen --scenario q2-cost-reduction
  .venv/bin/python -m devtools.demo"""
    if credentials is None:
        return f"""DEVELOPMENT MODE: plaintext, no tokens; anonymous callers act as admins.
{cli}
  grpcurl -plaintext {persona} list sparring.persona.v1.PersonaService"""
    ca = _shown(credentials.ca_file)
    files = "\n".join(f"  {name:<13} {_shown(path)}" for name, path in tokens.items())
    return f"""TLS with the local CA {ca}; every call needs a bearer token. Ready tokens ({TOKEN_LIFETIME.days} days):
{files}
The tools below make tokens of their own:
{cli}
grpcurl (reflection is open; calls need a token):
  grpcurl -cacert {ca} {persona} list
  grpcurl -cacert {ca} -H "authorization: Bearer $(cat {_shown(tokens["admin"])})" \\
    -d '{{"page_size": 3}}' {persona} sparring.persona.v1.PersonaService/ListPersonas"""


def _banner(database_url: str, embedded: bool, catalogue: str, how_to_call: str) -> str:
    rows = "\n".join(
        f"  {s.name:<11} grpc {s.address:<16} metrics {s.metrics_url}" for s in SERVICES
    )
    where = "embedded (data in .data/postgres)" if embedded else "external (DATABASE_URL)"
    return f"""
Sparring is running.
{rows}
  postgresql  {where}: {database_url}
  catalogue   {catalogue} (organization {DEVELOPMENT_ORGANIZATION})

{how_to_call}
Press Ctrl-C to stop everything.
"""


@contextlib.contextmanager
def _model_environment(engine: str) -> Iterator[dict[str, str]]:
    """The learning service's variables for the engine asked for: none for local; for scripted, the scripted model
    on a loopback endpoint of this process, for as long as the services run."""
    if engine != "scripted":
        yield {}
        return
    from devtools.scripted_model import MODEL_CALLS_PER_RUN, scripted_model
    from tests.fake_openai import serving

    with serving(scripted_model) as fake:
        yield {"LEARNING_ENGINE": "openai", "LEARNING_OPENAI_BASE_URL": fake.base_url,
               "LEARNING_OPENAI_MODEL": "scripted", "LEARNING_OPENAI_MAX_CALLS_PER_RUN": str(MODEL_CALLS_PER_RUN)}


def main() -> None:
    parser = argparse.ArgumentParser(prog="devtools.launcher", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=("local", "scripted"), default="local",
                        help="the learning service's model: none (the local engine), or the scripted model")
    args = parser.parse_args()
    with _model_environment(args.engine) as model_environment:
        _run(model_environment)


def _run(model_environment: dict[str, str]) -> None:
    embedded = None
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url:
        embedded = EmbeddedPostgres()
        database_url = eventloop.run(_ensure_database(embedded.start()))
    credentials = None if insecure_development() else local_credentials(development_credentials().directory)
    tokens = {} if credentials is None else _write_tokens(credentials)
    env = {**(credentials.environment() if credentials else {}), **os.environ, "DATABASE_URL": database_url,
           **_peer_addresses(), **model_environment, "PYTHONUNBUFFERED": "1"}
    for service in SERVICES:
        # No load balancer to wait for on a laptop: Ctrl-C stops at once.
        env.setdefault(f"{service.prefix}_DRAIN_SECONDS", "0")
    env.setdefault("LOG_JSON", "false")

    stop_requested = threading.Event()

    def request_stop(_signum, _frame) -> None:
        stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    processes: dict[str, subprocess.Popen] = {}
    exit_code = 0
    try:
        for service in SERVICES:
            # Own process group: Ctrl-C reaches the launcher only, which then stops them in order.
            processes[service.name] = subprocess.Popen([sys.executable, "-m", service.module], env=env,
                                                       start_new_session=True)
        _wait_until_serving(processes, credentials)
        catalogue = eventloop.run(_load_catalogue())
        print(_banner(database_url, embedded is not None, catalogue, _how_to_call(credentials, tokens)), flush=True)
        if model_environment:
            print(f"The learning service's model is the scripted one at {model_environment['LEARNING_OPENAI_BASE_URL']}"
                  ": `make loop ENGINE=scripted` closes the loop on it.", flush=True)
        while not stop_requested.wait(timeout=1.0):
            dead = [name for name, p in processes.items() if p.poll() is not None]
            if dead:
                print(f"{', '.join(dead)} stopped unexpectedly; shutting down", file=sys.stderr)
                exit_code = 1
                break
    except Exception as error:
        print(f"make run failed: {error}", file=sys.stderr)
        exit_code = 1
    finally:
        print("stopping services...", flush=True)
        _stop(processes)
        if embedded is not None:
            print("stopping PostgreSQL...", flush=True)
            embedded.stop()
        print("stopped.", flush=True)
    sys.exit(exit_code)


if __name__ == "__main__":
    main()
