"""Calls between services spread over every replica the callee's address resolves to (round robin), rather than
all going to the first one (grpc's default, pick first). Two replicas here are two servers behind one target that
resolves to both, as a headless Kubernetes Service does."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tests.security import CREDENTIALS, service_link


class CountingHealth(health.aio.HealthServicer):
    def __init__(self) -> None:
        super().__init__()
        self.checks = 0

    async def Check(self, request, context):
        self.checks += 1
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


async def test_a_service_channel_balances_over_every_address_of_its_callee():
    servers, replicas, ports = [], [], []
    for _ in range(2):
        server, replica = grpc.aio.server(), CountingHealth()
        health_pb2_grpc.add_HealthServicer_to_server(replica, server)
        ports.append(server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials(
            [(CREDENTIALS.key_file.read_bytes(), CREDENTIALS.cert_file.read_bytes())])))
        await server.start()
        servers.append(server)
        replicas.append(replica)
    try:
        # Both replicas present the same certificate, whose name is checked rather than the list of addresses.
        link = service_link("ipv4:" + ",".join(f"127.0.0.1:{port}" for port in ports), "transcript",
                            tls_server_name="localhost")
        async with link.channel as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for _ in range(20):
                await stub.Check(health_pb2.HealthCheckRequest(), **link.options(5))
        # Round robin over subchannels as they become ready: close to even, never all on one (pick first).
        assert min(replica.checks for replica in replicas) >= 5, [replica.checks for replica in replicas]
    finally:
        for server in servers:
            await server.stop(None)
