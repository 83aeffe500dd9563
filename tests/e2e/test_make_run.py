"""`make run` as a user sees it: four healthy services, the catalogue loaded, the tools finding the services on the
ports they were given, Ctrl-C stops everything."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from grpc_health.v1 import health_pb2, health_pb2_grpc
from sparring.persona.v1 import persona_service_pb2 as pb
from sparring.persona.v1 import persona_service_pb2_grpc

from devtools.credentials import development_channel
from tests.probes import free_port

SERVICES = ("persona", "transcript", "analysis", "learning")


async def _read_until(stream: asyncio.StreamReader, marker: str, seen: list[str]) -> None:
    while True:
        line = (await stream.readline()).decode()
        if not line:
            raise AssertionError("launcher exited before printing its banner:\n" + "".join(seen[-40:]))
        seen.append(line)
        if marker in line:
            return


async def _tool(env: dict[str, str], module: str, *args: str) -> str:
    """Runs ``python -m module args`` to its end; returns what it printed (it must succeed)."""
    tool = await asyncio.create_subprocess_exec(sys.executable, "-m", module, *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output = (await asyncio.wait_for(tool.communicate(), timeout=60))[0].decode()
    assert tool.returncode == 0, output
    return output


async def test_launcher_starts_four_services_loads_catalogue_and_stops_on_ctrl_c(own_database_url):
    ports = {name: (free_port(), free_port()) for name in SERVICES}
    env = {**os.environ, "DATABASE_URL": own_database_url, "LOG_LEVEL": "WARNING"}
    for name, (grpc_port, metrics_port) in ports.items():
        env[f"{name.upper()}_GRPC_PORT"] = str(grpc_port)
        env[f"{name.upper()}_METRICS_PORT"] = str(metrics_port)
    launcher = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devtools.launcher", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output: list[str] = []
    try:
        await asyncio.wait_for(_read_until(launcher.stdout, "Press Ctrl-C", output), timeout=90)
        for name, (grpc_port, _) in ports.items():
            async with development_channel(f"127.0.0.1:{grpc_port}") as channel:
                reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
                assert reply.status == health_pb2.HealthCheckResponse.SERVING, name
        async with development_channel(f"127.0.0.1:{ports['persona'][0]}", "admin") as channel:
            stub = persona_service_pb2_grpc.PersonaServiceStub(channel)
            blueprints_by_difficulty = set()
            token = ""
            while True:
                page = await stub.ListPersonas(pb.ListPersonasRequest(page_size=200, page_token=token))
                blueprints_by_difficulty |= {(p.blueprint, p.difficulty) for p in page.personas}
                token = page.next_page_token
                if not token:
                    break
            every_blueprint = {v.number for v in pb.Blueprint.DESCRIPTOR.values if v.number}
            assert {(b, d) for b in every_blueprint for d in range(1, 6)} <= blueprints_by_difficulty
            rendered = await stub.RenderPrompt(pb.RenderPromptRequest(persona="personas/sarah-chen",
                                                                      scenario="scenarios/q2-cost-reduction"))
            assert "Sarah Chen" in rendered.system_prompt
        # The tools read the same <SERVICE>_GRPC_PORT settings: nothing listens on the default ports.
        listed = await _tool(env, "persona_svc.cli", "list", "--blueprint", "sales")
        assert "personas/sarah-chen" in listed
        shown = await _tool(env, "devtools.demo", "--pause", "0")
        assert "Say Meter" in shown and "Persona audit of Sarah Chen" in shown
        assert "Voice round 1 on local: voiceAgents/" in shown
    finally:
        if launcher.returncode is None:
            launcher.send_signal(signal.SIGINT)
        rest = await asyncio.wait_for(launcher.stdout.read(), timeout=60)
        code = await launcher.wait()
    assert code == 0, "".join(output) + rest.decode()
    assert "stopped." in rest.decode()
