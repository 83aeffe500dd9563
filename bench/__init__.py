"""`make bench`: throughput and latency of the services against a bare grpc.aio echo server (the ceiling).

Run ``python -m bench --help`` for the flags. Layout of one run:

- an embedded PostgreSQL of its own (``.data/postgres-bench``, reused) and a fresh database, dropped at the end;
- the persona service as a separate process (``python -m persona_svc``), loaded with the sample catalogue
  through its API;
- a bare ``grpc.aio`` unary echo server as another process (``python -m bench.echo_server``);
- the load generator in this process: N asyncio clients spread over a few channels. First in closed loop
  (calls back to back: the throughput of each scenario against the echo ceiling), then in open loop (a fixed
  offered rate, each call sent at its scheduled time: the latency at that load, counted from the schedule).

Figures go to stdout and to the ``## Persona service`` section of ``docs/benchmarks.md``.

To find where the time goes: ``--diagnose`` adds the echo server with the svckit interceptors and
variants of the persona service (``bench/variant.py``); ``--profile`` runs the servers under cProfile
timed by CPU (``bench/profiled.py``) and prints the CPU of each of their threads.
"""
