"""Diagnosis only (``python -m bench --diagnose``): the persona service with one thing changed, to measure it.

    python -m bench.variant [--no-wrapping] MODULE

``--no-wrapping``: the services' calls are not wrapped (no request context, metrics or error mapping;
``svckit.interceptors``), everything else as in production. The product code is not changed: the process
patches itself before running MODULE.
"""

from __future__ import annotations

import argparse
import runpy
import sys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-wrapping", action="store_true")
    parser.add_argument("module")
    args = parser.parse_args()
    if args.no_wrapping:
        from svckit import server

        server.WrappedHandlers = lambda handlers, *wrapping: handlers
    sys.argv = [args.module]
    runpy.run_module(args.module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
