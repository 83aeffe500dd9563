"""python -m bench: see bench/__init__.py; ``--help`` for the flags."""

import os

# The load generator forks (pg_ctl, at the end) while its gRPC threads run; without this, gRPC logs a
# harmless "skipping fork() handlers" line. Only this process gets it: children.py drops it from theirs.
if "GRPC_ENABLE_FORK_SUPPORT" not in os.environ:
    os.environ["GRPC_ENABLE_FORK_SUPPORT"] = "false"
    os.environ["BENCH_SET_GRPC_FORK_SUPPORT"] = "1"

from bench.run import main  # after the environment above

raise SystemExit(main())
