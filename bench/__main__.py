"""python -m bench: see bench/__init__.py; ``--help`` for the flags."""

from bench.run import main

raise SystemExit(main())
