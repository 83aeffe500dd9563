"""The persona service as the other services read it (transcript, analysis, learning): one channel, a deadline
on every call, and its answers turned into the caller's domain errors (a name it does not know, or the service
itself failing). Each call acts for ``organization`` when one is given (background work names the organization
it does the work for), else for the organization of the call being served."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from sparring.persona.v1 import persona_service_pb2 as pb
from sparring.persona.v1 import persona_service_pb2_grpc

from svckit.errors import FailedPrecondition, NotFound, Unavailable
from svckit.transport import ServiceLink

# What the persona service answers for a name it holds nothing under.
_UNKNOWN = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)


class PersonaClient:
    def __init__(self, link: ServiceLink, timeout_seconds: float) -> None:
        self._link = link
        self.stub = persona_service_pb2_grpc.PersonaServiceStub(link.channel)
        self._timeout = timeout_seconds

    async def call(self, method: Callable[..., Awaitable[Any]], request: Any, organization: str | None = None) -> Any:
        """``method(request)`` within the deadline; any failure is the persona service being unavailable."""
        try:
            return await method(request, **self._link.options(self._timeout, organization))
        except grpc.aio.AioRpcError as error:
            raise unavailable(error) from error

    async def find(self, method: Callable[..., Awaitable[Any]], request: Any,
                   organization: str | None = None) -> Any | None:
        """Like ``call``, but None when the name in ``request`` is unknown to the persona service."""
        try:
            return await method(request, **self._link.options(self._timeout, organization))
        except grpc.aio.AioRpcError as error:
            if error.code() in _UNKNOWN:
                return None
            raise unavailable(error) from error

    async def persona(self, name: str, organization: str | None = None) -> pb.Persona | None:
        """The persona, a deleted one too (``delete_time`` set); None when there is none of that name."""
        reply = await self.find(self.stub.GetPersona, pb.GetPersonaRequest(name=name), organization)
        return reply.persona if reply is not None else None

    async def owners(self, name: str, organization: str) -> frozenset[str]:
        """Who owns the persona; nobody when there is none of that name."""
        return await self.owners_if_found(name, organization) or frozenset()

    async def owners_if_found(self, name: str, organization: str) -> frozenset[str] | None:
        """Who owns the persona; None when ``organization`` has none of that name."""
        persona = await self.persona(name, organization)
        return frozenset(persona.owners) if persona is not None else None

    async def scenario(self, name: str, organization: str | None = None) -> pb.Scenario | None:
        """The scenario; None when there is none of that name."""
        reply = await self.find(self.stub.GetScenario, pb.GetScenarioRequest(name=name), organization)
        return reply.scenario if reply is not None else None

    async def require_usable(self, name: str) -> pb.Persona:
        """The persona, if it exists and is not deleted: NOT_FOUND, FAILED_PRECONDITION (PERSONA_DELETED) else."""
        persona = await self.persona(name)
        if persona is None:
            raise NotFound(name, reason="PERSONA_NOT_FOUND")
        if persona.HasField("delete_time"):
            raise FailedPrecondition(f"{name} is deleted; undelete it first", reason="PERSONA_DELETED",
                                     metadata={"resource": name})
        return persona

    async def close(self) -> None:
        await self._link.close()


def unavailable(error: grpc.aio.AioRpcError) -> Unavailable:
    return Unavailable(f"the persona service could not be read ({error.code().name}: {error.details()})",
                       reason="PERSONA_SERVICE_UNAVAILABLE")
