"""Diagnosis only (``python -m bench --diagnose``): the persona service with one thing changed, to measure it.

    python -m bench.variant [--no-interceptors] [--memo-persona-message] [--generic-handlers-only] MODULE

``--no-interceptors``: the server is built without the svckit interceptors (request context, metrics,
errors), everything else as in production. ``--memo-persona-message``: the domain-to-proto conversion of a
persona is memoized per (persona, revision, update time), as a cache of ready messages would do.
``--generic-handlers-only``: services are served through their generic handlers only, not also as
"registered methods" (the generated ``add_..._to_server`` does both since grpcio 1.63; for each call the
aio server then waits on one pending request task per registered method, ~23 here, instead of one).
The product code is not changed: the process patches itself before running MODULE.
"""

from __future__ import annotations

import argparse
import functools
import runpy
import sys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-interceptors", action="store_true")
    parser.add_argument("--memo-persona-message", action="store_true")
    parser.add_argument("--generic-handlers-only", action="store_true")
    parser.add_argument("module")
    args = parser.parse_args()
    if args.no_interceptors:
        import grpc

        make_server = grpc.aio.server

        def server_without_interceptors(*positional, interceptors=None, **named):
            return make_server(*positional, **named)

        grpc.aio.server = server_without_interceptors
    if args.generic_handlers_only:
        from grpc.aio import _server

        _server.Server.add_registered_method_handlers = lambda self, service_name, method_handlers: None
    if args.memo_persona_message:
        from persona_svc.entrypoints import convert

        to_message = convert.persona_message
        memo: dict[tuple, object] = {}

        @functools.wraps(to_message)
        def persona_message(persona):
            key = (persona.id, persona.revision, persona.update_time, persona.delete_time)
            message = memo.get(key)
            if message is None:
                message = memo[key] = to_message(persona)
            return message

        convert.persona_message = persona_message
    sys.argv = [args.module]
    runpy.run_module(args.module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
