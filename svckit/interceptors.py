"""Server interceptors: request context, Prometheus metrics and error mapping.

Each interceptor wraps a method's handler once (wrapped handlers are cached per method),
so the per-call cost is one extra coroutine frame, not a handler lookup.
Order in the server: request context (outermost), metrics, errors (innermost).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import grpc
from grpc_status import rpc_status
from sqlalchemy import exc as sa_exc

from svckit import context as call_context
from svckit import errors
from svckit.errors import DomainError, to_status_proto
from svckit.metrics import MethodMetrics

log = logging.getLogger("svckit.rpc")

Behaviour = Callable[..., Any]


def _grpc_type(handler: grpc.RpcMethodHandler) -> str:
    if handler.request_streaming and handler.response_streaming:
        return "bidi_stream"
    if handler.request_streaming:
        return "client_stream"
    if handler.response_streaming:
        return "server_stream"
    return "unary"


async def _iterate(result: Any) -> AsyncIterator[Any]:
    """Yields from a streaming behaviour, whether it is an async generator or a coroutine using context.write."""
    if hasattr(result, "__aiter__"):
        async for item in result:
            yield item
    elif inspect.isawaitable(result):
        await result


class _WrappingInterceptor(grpc.aio.ServerInterceptor):
    """Wraps unary and streaming handlers alike with ``around`` (unary) and ``around_stream``."""

    def __init__(self) -> None:
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = await continuation(handler_call_details)
            if handler is None:
                return None
            wrapped = self._wrapped[method] = self._wrap(handler, method)
        return wrapped

    def _wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        state = self.method_state(_grpc_type(handler), method)
        if handler.unary_unary:
            inner = handler.unary_unary

            async def unary_unary(request, context):
                return await self.around(lambda: inner(request, context), context, state)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, handler.request_deserializer, handler.response_serializer
            )
        if handler.stream_unary:
            inner_su = handler.stream_unary

            async def stream_unary(request_iterator, context):
                requests = self.incoming(request_iterator, state)
                return await self.around(lambda: inner_su(requests, context), context, state)

            return grpc.stream_unary_rpc_method_handler(
                stream_unary, handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream:
            inner_us = handler.unary_stream

            # grpc.aio tells async handlers from sync ones by their function type, so these are async generators.
            async def unary_stream(request, context):
                async for response in self.around_stream(lambda: inner_us(request, context), context, state):
                    yield response

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, handler.request_deserializer, handler.response_serializer
            )
        inner_ss = handler.stream_stream

        async def stream_stream(request_iterator, context):
            requests = self.incoming(request_iterator, state)
            async for response in self.around_stream(lambda: inner_ss(requests, context), context, state):
                yield response

        return grpc.stream_stream_rpc_method_handler(
            stream_stream, handler.request_deserializer, handler.response_serializer
        )

    def method_state(self, grpc_type: str, method: str) -> Any:
        return None

    def incoming(self, request_iterator: AsyncIterator[Any], state: Any) -> AsyncIterator[Any]:
        return request_iterator

    async def around(self, call: Callable[[], Awaitable[Any]], context, state: Any) -> Any:
        return await call()

    async def around_stream(self, call: Callable[[], Any], context, state: Any) -> AsyncIterator[Any]:
        async for item in _iterate(call()):
            yield item


class RequestContextInterceptor(_WrappingInterceptor):
    """Binds the request id (``x-request-id``, generated if absent), the caller's roles and actor to the call."""

    def method_state(self, grpc_type: str, method: str) -> str:
        return method

    @staticmethod
    def _bind(context, method: str):
        request_id = ""
        roles: frozenset[str] = frozenset()
        actor = ""
        for key, value in context.invocation_metadata() or ():
            if key == call_context.REQUEST_ID_METADATA_KEY:
                request_id = value
            elif key == call_context.ROLE_METADATA_KEY:
                roles = frozenset(r.strip() for r in value.split(",") if r.strip())
            elif key == call_context.ACTOR_METADATA_KEY:
                actor = value.strip()[:200]
        return call_context.set_current_call(
            call_context.CallContext(request_id=request_id, method=method, roles=roles, actor=actor)
        )

    async def around(self, call, context, method):
        token = self._bind(context, method)
        try:
            return await call()
        finally:
            call_context.reset_current_call(token)

    async def around_stream(self, call, context, method):
        self._bind(context, method)
        async for item in _iterate(call()):
            yield item


def _code_name(context, unset: str = "OK") -> str:
    """The status the handler set (a grpc.StatusCode in grpc.aio), or ``unset`` when it set none."""
    code = context.code()
    return unset if code is None else code.name


class MetricsInterceptor(_WrappingInterceptor):
    """grpc_server_started/handled/handling_seconds/msg_received/msg_sent, go-grpc-prometheus style."""

    def method_state(self, grpc_type: str, method: str) -> MethodMetrics:
        return MethodMetrics(grpc_type, method)

    async def incoming(self, request_iterator, metrics: MethodMetrics):
        async for request in request_iterator:
            metrics.received.inc()
            yield request

    async def around(self, call, context, metrics: MethodMetrics):
        metrics.started.inc()
        if metrics.labels[0] == "unary":
            metrics.received.inc()
        start = time.perf_counter()
        try:
            response = await call()
        except asyncio.CancelledError:
            metrics.handled("CANCELLED")
            raise
        except BaseException:
            metrics.handled(_code_name(context, unset="UNKNOWN"))
            raise
        finally:
            metrics.handling.observe(time.perf_counter() - start)
        metrics.handled(_code_name(context))
        metrics.sent.inc()
        return response

    async def around_stream(self, call, context, metrics: MethodMetrics):
        metrics.started.inc()
        if metrics.labels[0] == "server_stream":
            metrics.received.inc()
        start = time.perf_counter()
        code = None
        try:
            async for item in _iterate(call()):
                metrics.sent.inc()
                yield item
        except (asyncio.CancelledError, GeneratorExit):
            code = "CANCELLED"
            raise
        except BaseException:
            code = _code_name(context, unset="UNKNOWN")
            raise
        finally:
            metrics.handling.observe(time.perf_counter() - start)
            metrics.handled(code or _code_name(context))


class ErrorInterceptor(_WrappingInterceptor):
    """Turns domain errors into rich statuses and anything unexpected into a logged INTERNAL.

    No call ends in UNKNOWN: a database that cannot be reached is UNAVAILABLE, a
    serialization conflict is ABORTED (retry), a statement timeout is DEADLINE_EXCEEDED.
    """

    def __init__(self, error_domain: str) -> None:
        super().__init__()
        self._domain = error_domain

    async def around(self, call, context, state):
        try:
            return await call()
        except Exception as error:
            await self._abort(error, context)

    async def around_stream(self, call, context, state):
        try:
            async for item in _iterate(call()):
                yield item
        except Exception as error:
            await self._abort(error, context)

    async def _abort(self, error: Exception, context) -> None:
        if isinstance(error, grpc.aio.AbortError):
            raise error
        domain_error = self._classify(error)
        if domain_error is None:
            request_id = call_context.current_call().request_id
            log.exception("unexpected error", extra={"request_id": request_id})
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error (request id {request_id})")
        await context.abort_with_status(rpc_status.to_status(to_status_proto(domain_error, self._domain)))

    @staticmethod
    def _classify(error: Exception) -> DomainError | None:
        if isinstance(error, DomainError):
            return error
        cause = getattr(error, "orig", None) or error
        cause = getattr(cause, "__cause__", None) or cause
        if isinstance(cause, asyncpg.exceptions.QueryCanceledError):
            return errors.DeadlineExceeded("the database did not answer in time", "DATABASE_TIMEOUT")
        if isinstance(cause, (asyncpg.exceptions.SerializationError, asyncpg.exceptions.DeadlockDetectedError)):
            return errors.Aborted("concurrent change; retry the request", "CONCURRENT_CHANGE")
        if isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError, OSError, asyncio.TimeoutError)) or (
            isinstance(cause, (asyncpg.exceptions.PostgresConnectionError, asyncpg.exceptions.InterfaceError))
        ):
            return errors.Unavailable("the database is unavailable; retry later", "DATABASE_UNAVAILABLE")
        return None
