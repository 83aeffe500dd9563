"""Servicers for contracts whose implementation has not shipped yet.

Every method answers UNIMPLEMENTED with a message naming the method, instead of
the generated stubs' bare "Method not implemented!".
"""

from __future__ import annotations

import grpc
from google.protobuf.descriptor import ServiceDescriptor


def unimplemented_servicer(service: ServiceDescriptor, detail: str) -> object:
    def make(method_name: str):
        message = f"{service.full_name}/{method_name} is not implemented in this release: {detail}"

        async def method(request, context):
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, message)

        return method

    namespace = {m.name: make(m.name) for m in service.methods}
    return type(f"Unimplemented{service.name}", (), namespace)()
