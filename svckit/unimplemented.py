"""Services whose contract is published but whose implementation has not shipped yet.

Every method answers UNIMPLEMENTED with a message naming the method, instead of
the generated stubs' bare "Method not implemented!"; the process still migrates its
schema and reports SERVING, so deployments and health checks are real from day one.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
from google.protobuf.descriptor import ServiceDescriptor

from svckit.server import GrpcApp


def unimplemented_base(service: ServiceDescriptor, detail: str) -> type:
    """A servicer class whose every method answers UNIMPLEMENTED; subclass it to ship methods one by one."""

    def make(method_name: str):
        message = f"{service.full_name}/{method_name} is not implemented in this release: {detail}"

        async def method(_self, request, context):
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, message)

        return method

    namespace = {m.name: make(m.name) for m in service.methods}
    return type(f"Unimplemented{service.name}", (), namespace)


def unimplemented_servicer(service: ServiceDescriptor, detail: str) -> object:
    return unimplemented_base(service, detail)()


def unimplemented_app(service: ServiceDescriptor, error_domain: str, add_servicer: Callable, detail: str) -> GrpcApp:
    servicer = unimplemented_servicer(service, detail)
    return GrpcApp(
        service_names=[service.full_name],
        error_domain=error_domain,
        add_servicers=lambda server: add_servicer(servicer, server),
    )
