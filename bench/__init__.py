"""`make bench`: throughput and latency of the services against bare grpc.aio servers (the ceilings).

Run ``python -m bench --help`` for the flags; ``--only persona`` (or ``transcript``, ``analysis``, ``streams``,
``security``, ``voice``, ``guardrails``, ``handoff``) runs one part.
One run has an embedded PostgreSQL of its own (``.data/postgres-bench``, reused) and a fresh database for each
part, dropped when the part ends (``bench/database.py``). Every server is a child process
(``bench/children.py``); the Python load generator runs in the benchmark's process, its clients spread over a
few channels (``bench/load.py``).

Persona part (``bench/run.py``, ``bench/persona.py``, ``bench/echo.py``):

- the persona service (``python -m persona_svc``), loaded with the sample catalogue through its API;
- a bare ``grpc.aio`` unary echo server (``python -m bench.echo_server``), the ceiling;
- N calls in flight from ``h2load`` (C, nghttp2's HTTP/2 load generator; ``bench/h2load.py``), each replaced
  as soon as answered: the throughput and latency of each scenario against the echo ceiling, with a client
  that leaves the machine's cores to the server (the targets);
- then N clients of the Python load generator, first in closed loop (the same, as a Python client sees
  it), then in open loop (a fixed offered rate, each call sent at its scheduled time: the latency at that
  load, counted from the schedule).

Transcript part (``bench/transcript_run.py``, ``bench/transcript.py``, ``bench/streams.py``):

- the transcript service (``python -m transcript_svc``), which migrates the database;
- the ceiling (``python -m bench.ceiling_stream_server``): a bare bidi server with the same StreamSession
  method that stores with the service's own group commit and acks after the commit;
- the design the stream replaces (``python -m bench.unary_insert_server``): one unary call and one INSERT,
  its own transaction, per utterance;
- gateway streams that pipeline utterances (up to a window unacked) for throughput against both, then a
  fixed offered rate for ack latency, then many live sessions held for a while, after which every session's
  stored rows are checked against what was acked.

Streams part (``bench/streams.py``, ``--only streams``):

- the transcript service with ``TRANSCRIPT_MAX_OPEN_STREAMS`` streams opened at the same moment (``--streams-at-once``,
  its default bound), then more beyond that bound, each of which must be refused with a retryable status and a
  RetryInfo; the service's memory before and with the streams held, per idle stream; one utterance on each.

Security part (``bench/security_run.py``, ``--only security``):

- GetPersona (h2load) and StreamSession (gateway streams) at saturation, and StreamSession at a fixed offered rate,
  against the same servers in development mode (plaintext, anonymous) and with TLS + tokens, with their ceilings
  in both modes; the throughput lost, the latencies of both; then ``CallGuard.admit`` alone, for a token verified
  before and for a new one.

Voice part (``bench/voice.py``, ``--only voice``):

- the persona service with ElevenLabs pointed at a fake of its API in the benchmark's process
  (``devtools/fake_elevenlabs.py``), and the transcript service; the latency of StartVoiceRound with the agent cached
  and not, on ``local`` and ``elevenlabs``; then 1,000 starts with the fake failing 20% of requests at random.

Handoff part (``bench/handoff.py``, ``--only handoff``):

- the persona (sample catalogue), transcript and analysis services, and one switching rule that applies itself;
  sessions a few at a time, each watched, whose gateway streams a call the rule fires at: the latency from the rule
  firing (its reading's stored time) to the ``COMMAND_TYPE_HANDOFF`` command at the gateway, and from the ack of the
  message whose reading fires it to that command, against the reading's own latency at the watcher (its ceiling).

Every server of every part runs as in production, with TLS and bearer tokens of the benchmark's own local CA and
issuer (``.data/bench-credentials``), and every client sends a token (``bench/security.py``).

Figures go to stdout and to each part's section of ``docs/benchmarks.md`` (``bench/report.py``).

To find where the time goes: ``--diagnose`` adds the echo server with the services' call wrapping and
variants of the persona service (``bench/variant.py``); ``--profile`` runs the services and their ceilings
under cProfile timed by CPU (``bench/profiled.py``) and prints the CPU of each of their threads.
"""
