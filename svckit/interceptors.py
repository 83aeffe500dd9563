"""What every call goes through on the server: request context, Prometheus metrics and error mapping.

These are applied by wrapping each method's handler once, when the service is registered, rather than as
grpc.aio ``ServerInterceptor``s: with interceptors grpc.aio runs its interceptor pipeline (one coroutine per
interceptor) on every call before it finds the handler, and each interceptor adds its own wrapper around
the call. Measured on the persona service, that pipeline cost about 15% of a GetPersona's server CPU; one
wrapper doing the three jobs in one coroutine frame costs a fraction of it.

In order: the request context is bound (so every log line has the request id), then the call is counted
and timed, then admitted (``svckit.guard``: token, role, rate limit), then any error is turned into a rich
status (domain errors, refusals included) or a logged INTERNAL (bugs). A call of a method that changes data is
written to the audit log (``svckit.audit_log``) once its status is known, before it goes out.

grpc decodes a request before the handler runs, and a request that does not decode (a string that is not
valid UTF-8) would end the call there, as UNKNOWN and uncounted. So the request deserializer is wrapped
too: it hands the handler an ``_Undecodable`` instead, and the error it carries is raised inside the
counted call, like any other bad input.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, NoReturn

import asyncpg
import grpc
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import DecodeError
from grpc_status import rpc_status
from sqlalchemy import exc as sa_exc

from svckit import context as call_context
from svckit import errors
from svckit.audit_log import AuditLog
from svckit.decoding import UndecodableRequest, undecodable
from svckit.errors import DomainError
from svckit.guard import CallGuard
from svckit.metrics import MethodMetrics
from svckit.statuses import status_code_of, to_status_proto

log = logging.getLogger("svckit.rpc")


# (request streaming, response streaming) -> the grpc_type label of its metrics, grpc's constructor for its handler
_KINDS = {
    (False, False): ("unary", grpc.unary_unary_rpc_method_handler),
    (True, False): ("client_stream", grpc.stream_unary_rpc_method_handler),
    (False, True): ("server_stream", grpc.unary_stream_rpc_method_handler),
    (True, True): ("bidi_stream", grpc.stream_stream_rpc_method_handler),
}


async def _iterate(result: Any) -> AsyncIterator[Any]:
    """Yields from a streaming behaviour, whether it is an async generator or a coroutine using context.write."""
    if hasattr(result, "__aiter__"):
        async for item in result:
            yield item
    elif inspect.isawaitable(result):
        await result


def _code_name(context, unset: str = "OK") -> str:
    """The status the handler set (a grpc.StatusCode in grpc.aio), or ``unset`` when it set none."""
    code = context.code()
    return unset if code is None else code.name


def _bind(context, method: str):
    request_id = credentials = acting_for = ""
    for key, value in context.invocation_metadata() or ():
        if key == call_context.REQUEST_ID_METADATA_KEY:
            request_id = value
        elif key == call_context.AUTHORIZATION_METADATA_KEY:
            credentials = value
        elif key == call_context.ORGANIZATION_METADATA_KEY:
            acting_for = value.strip()[:200]
    return call_context.set_current_call(call_context.CallContext(request_id, method, credentials, acting_for))


def _outcome(error: Exception, context) -> tuple[str, str]:
    """The status code name and ErrorInfo reason that ``error`` ends its call with (``_Method.abort`` sends them)."""
    if isinstance(error, grpc.aio.AbortError):  # the handler ended the call itself
        return _code_name(context, unset="UNKNOWN"), ""
    domain_error = domain_error_of(error)
    if domain_error is None:
        return grpc.StatusCode.INTERNAL.name, ""
    return status_code_of(domain_error).name, domain_error.reason


def domain_error_of(error: Exception) -> DomainError | None:
    """The domain error a failure stands for, or None for a bug.

    No call ends in UNKNOWN: a database that cannot be reached, or whose pool has no connection free in
    time, is UNAVAILABLE, a serialization conflict is ABORTED (retry), a statement timeout is DEADLINE_EXCEEDED.
    """
    if isinstance(error, DomainError):
        return error
    cause = getattr(error, "orig", None) or error
    cause = getattr(cause, "__cause__", None) or cause
    if isinstance(cause, asyncpg.exceptions.QueryCanceledError):
        return errors.DeadlineExceeded("the database did not answer in time", "DATABASE_TIMEOUT")
    if isinstance(cause, (asyncpg.exceptions.SerializationError, asyncpg.exceptions.DeadlockDetectedError)):
        return errors.Aborted("concurrent change; retry the request", "CONCURRENT_CHANGE")
    if isinstance(error, sa_exc.TimeoutError):  # every pooled connection stayed busy for the pool's timeout
        return errors.Unavailable("the database is busy; retry later", "DATABASE_BUSY", retry_after=1.0)
    if isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError, OSError, asyncio.TimeoutError)) or (
        isinstance(cause, _DRIVER_CONNECTION_ERRORS)
    ) or (
        isinstance(cause, asyncpg.PostgresError) and (cause.sqlstate or "")[:2] in _UNAVAILABLE_SQLSTATE_CLASSES
    ):
        return errors.Unavailable("the database is unavailable; retry later", "DATABASE_UNAVAILABLE")
    return None


# The driver's own errors about a connection that broke or is stuck mid-operation.
_DRIVER_CONNECTION_ERRORS = (asyncpg.exceptions.PostgresConnectionError, asyncpg.exceptions.InterfaceError,
                             asyncpg.exceptions.InternalClientError)
# PostgreSQL's classes of errors that say the database cannot serve now, not that the request is wrong:
# 08 connection exception, 53 insufficient resources (too many connections, disk full), 57 operator
# intervention (a terminated backend, a shutting down or starting server).
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")


class _Method:
    """One method's wrapping: its name, its metrics, the error domain of its service, who may call it, and for a
    method that changes data, its audit log entries (None for every other: their calls cost nothing more)."""

    __slots__ = ("audit", "domain", "guard", "metrics", "name", "rule")

    def __init__(self, name: str, grpc_type: str, domain: str, guard: CallGuard, audit_log: AuditLog | None,
                 request_type: Descriptor | None) -> None:
        self.name = name
        self.metrics = MethodMetrics(grpc_type, name)
        self.domain = domain
        self.guard = guard
        self.rule = guard.rule_of(name)
        self.audit = audit_log.of_method(name, request_type) if audit_log is not None and self.rule.mutating else None

    async def abort(self, error: Exception, context) -> NoReturn:
        """Ends the call with the status ``error`` stands for (by raising grpc.aio's AbortError)."""
        if isinstance(error, grpc.aio.AbortError):
            raise error
        domain_error = domain_error_of(error)
        if domain_error is None:
            request_id = call_context.current_call().request_id
            log.exception("unexpected error", extra={"request_id": request_id})
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error (request id {request_id})")
            raise AssertionError("abort returned")  # it raises; this line tells type checkers so
        await context.abort_with_status(rpc_status.to_status(to_status_proto(domain_error, self.domain)))
        raise AssertionError("abort_with_status returned")  # it raises; this line tells type checkers so

    def counted(self, request_iterator: AsyncIterator[Any]) -> AsyncIterator[Any]:
        return _CountedRequests(request_iterator, self.metrics.received)

    async def unary_response(self, request: Any, call: Callable[[], Any], context) -> Any:
        token = _bind(context, self.name)
        metrics = self.metrics
        metrics.started.inc()
        if metrics.labels[0] == "unary":
            metrics.received.inc()
        start = time.perf_counter()
        try:
            try:
                await self.guard.admit(call_context.current_call(), self.rule)
                response = await call()
            except asyncio.CancelledError:
                metrics.handled("CANCELLED")
                if self.audit is not None:
                    self.audit.record_later(request, "CANCELLED")
                raise
            except Exception as error:
                code, reason = _outcome(error, context)
                # Counted, and audited, before abort sends the status: whoever reads the metric once answered
                # finds the call in it.
                metrics.handled(code)
                if self.audit is not None:
                    await self.audit.record(request, None, code, reason)
                await self.abort(error, context)
            code = _code_name(context)
            metrics.handled(code)
            metrics.sent.inc()
            if self.audit is not None:
                await self.audit.record(request, response, code)
            return response
        finally:
            metrics.handling.observe(time.perf_counter() - start)
            call_context.reset_current_call(token)

    async def streamed_response(self, call: Callable[[], Any], context) -> AsyncIterator[Any]:
        # Not reset: the generator runs in the call's own task, whose context ends with it.
        _bind(context, self.name)
        metrics = self.metrics
        metrics.started.inc()
        if metrics.labels[0] == "server_stream":
            metrics.received.inc()
        start = time.perf_counter()
        code = None
        try:
            try:
                await self.guard.admit(call_context.current_call(), self.rule)
                if metrics.labels[0] == "bidi_stream":
                    # Headers on admission tell the client its frames will be read: one refused gets a status and no
                    # headers, so a client that waits for them never sends into a call the server has ended.
                    await context.send_initial_metadata(())
                async for item in _iterate(call()):
                    metrics.sent.inc()
                    yield item
            except Exception as error:
                code = _outcome(error, context)[0]
                metrics.handled(code)  # before abort sends the status, as for a unary call
                await self.abort(error, context)
        except (asyncio.CancelledError, GeneratorExit):
            if code is None:
                code = "CANCELLED"
                metrics.handled(code)
            raise
        except BaseException:
            if code is None:
                code = _code_name(context, unset="UNKNOWN")
                metrics.handled(code)
            raise
        finally:
            metrics.handling.observe(time.perf_counter() - start)
            if code is None:
                metrics.handled(_code_name(context))


def _unchanged(request: Any) -> Any:
    return request


class _CountedRequests:
    """A call's stream of requests, counted. A request that did not decode raises its error in its place, and
    the stream can still be read after it: a handler may read on while it winds the call down."""

    __slots__ = ("_received", "_requests")

    def __init__(self, requests: AsyncIterator[Any], received) -> None:
        self._requests = requests.__aiter__()
        self._received = received

    def __aiter__(self) -> _CountedRequests:
        return self

    async def __anext__(self) -> Any:
        request = await self._requests.__anext__()
        self._received.inc()
        if type(request) is _Undecodable:
            raise request.error
        return request


class _Undecodable:
    """What the deserializer hands on for a request that did not decode: why not."""

    __slots__ = ("error",)

    def __init__(self, error: UndecodableRequest) -> None:
        self.error = error

    def __call__(self) -> NoReturn:
        raise self.error


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """``deserializer`` (a message class's FromString), answering an ``_Undecodable`` where it would raise."""
    message_class = getattr(deserializer, "__self__", None)
    if deserializer is None or message_class is None:
        return deserializer

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError:
            return _Undecodable(undecodable(message_class, data))

    return deserialize


def wrap_handler(handler: grpc.RpcMethodHandler, method: str, error_domain: str, guard: CallGuard,
                 audit_log: AuditLog | None = None) -> grpc.RpcMethodHandler:
    """``handler`` with the request context, admission, metrics, error mapping and, for a method that changes data,
    its audit log entry around each of its calls."""
    grpc_type, make = _KINDS[(handler.request_streaming, handler.response_streaming)]
    request_class = getattr(handler.request_deserializer, "__self__", None)
    wrapping = _Method(method, grpc_type, error_domain, guard, audit_log,
                       getattr(request_class, "DESCRIPTOR", None))
    if wrapping.audit is not None and grpc_type != "unary":
        raise ValueError(f"{method} changes data but streams: the audit log records unary calls only")
    inner = handler.unary_unary or handler.stream_unary or handler.unary_stream or handler.stream_stream
    assert inner is not None, f"{method} has no behaviour"
    requests = wrapping.counted if handler.request_streaming else _unchanged

    def call_of(request, context) -> Callable[[], Any]:
        """The handler's call, or for a request that did not decode one raising why."""
        if type(request) is _Undecodable:
            return request
        request = requests(request)
        return lambda: inner(request, context)

    # grpc.aio tells async handlers from sync ones by their function type, so a streamed one is an async generator.
    async def streamed(request, context):
        async for response in wrapping.streamed_response(call_of(request, context), context):
            yield response

    async def unary(request, context):
        return await wrapping.unary_response(request, call_of(request, context), context)

    behaviour = streamed if handler.response_streaming else unary
    return make(behaviour, _tolerant(handler.request_deserializer), handler.response_serializer)


class WrappedHandlers(grpc.GenericRpcHandler):
    """A service's generic handler whose method handlers are wrapped (see ``wrap_handler``), each once."""

    def __init__(self, inner: grpc.GenericRpcHandler, error_domain: str, guard: CallGuard,
                 audit_log: AuditLog | None = None) -> None:
        self._inner = inner
        self._domain = error_domain
        self._guard = guard
        self._audit_log = audit_log
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = self._inner.service(handler_call_details)
            if handler is None:  # not this service's: not remembered, or unknown names would fill the dict
                return None
            wrapped = self._wrapped[method] = wrap_handler(handler, method, self._domain, self._guard,
                                                           self._audit_log)
        return wrapped
