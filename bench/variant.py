"""Diagnosis only (``python -m bench --diagnose``): the persona service with one thing changed, to measure it.

    python -m bench.variant [--no-wrapping] [--memo-persona-message] MODULE

``--no-wrapping``: the services' calls are not wrapped (no request context, metrics or error mapping;
``svckit.interceptors``), everything else as in production. ``--memo-persona-message``: the domain-to-proto
conversion of a persona is memoized per (persona, revision, update time), as a cache of ready messages
would do. The product code is not changed: the process patches itself before running MODULE.
"""

from __future__ import annotations

import argparse
import functools
import runpy
import sys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-wrapping", action="store_true")
    parser.add_argument("--memo-persona-message", action="store_true")
    parser.add_argument("module")
    args = parser.parse_args()
    if args.no_wrapping:
        from svckit import server

        server.WrappedHandlers = lambda handlers, error_domain: handlers
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
