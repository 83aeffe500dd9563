"""The ceiling: a bare grpc.aio server with one unary method that returns the request bytes.

No request context, metrics or error mapping, no (de)serialization (a generic handler on raw bytes), no
health or reflection: what is left is the cost of grpc.aio itself for one unary call.

    python -m bench.echo_server --port 50999
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

import grpc

from svckit import eventloop
from svckit.settings import ServiceSettings

SERVICE = "sparring.bench.Echo"
METHOD = "Echo"
FULL_METHOD = f"/{SERVICE}/{METHOD}"


async def _echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return request


async def serve(port: int, svckit_wrapping: bool = False) -> None:
    server = grpc.aio.server()
    handlers = grpc.method_handlers_generic_handler(SERVICE, {METHOD: grpc.unary_unary_rpc_method_handler(_echo)})
    if svckit_wrapping:  # diagnosis only (bench --diagnose): what the services wrap each call in
        from svckit.guard import OPEN, CallGuard
        from svckit.identity import Principal
        from svckit.interceptors import WrappedHandlers

        anyone = CallGuard({FULL_METHOD: OPEN}, None, anonymous=Principal("bench", "bench", frozenset()))
        handlers = WrappedHandlers(handlers, "bench.sparring.dev", anyone)
    server.add_generic_rpc_handlers((handlers,))
    await serve_until_terminated(server, port)


def _listen(server: grpc.aio.Server, port: int) -> None:
    """On 127.0.0.1:``port``, with TLS when the environment gives the services theirs (``TLS_CERT_FILE``,
    ``TLS_KEY_FILE``, not in development mode): a ceiling pays for TLS as the service it bounds does. It takes
    the callers' tokens without checking them."""
    settings = ServiceSettings()
    if settings.insecure_development or not settings.tls_cert_file:
        server.add_insecure_port(f"127.0.0.1:{port}")
    else:
        key, chain = Path(settings.tls_key_file).read_bytes(), Path(settings.tls_cert_file).read_bytes()
        server.add_secure_port(f"127.0.0.1:{port}", grpc.ssl_server_credentials([(key, chain)]))


async def serve_until_terminated(server: grpc.aio.Server, port: int) -> None:
    """Serves on 127.0.0.1:``port`` (see ``_listen``) until SIGTERM or SIGINT (how the benchmark stops its
    children)."""
    _listen(server, port)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--svckit-wrapping", action="store_true",
                        help="each call wrapped as the services wrap theirs (diagnosis: its cost without a service)")
    args = parser.parse_args()
    eventloop.run(serve(args.port, args.svckit_wrapping))


if __name__ == "__main__":
    main()
