"""The rehearsal call as the services that judge calls see it: its turns, the job tracks it is played on, and
the rules a persona's turns are audited by. Shared by the analysis service (real calls) and the learning
service (simulated calls), so both judge a call the same way; and how a structured patch finds and edits a part of
what the persona is told, shared by the persona service (which renders it) and the learning service (which checks
it).

Pure Python: no gRPC, no protobuf, no database, no I/O. Proto <-> domain conversion lives with the services'
entrypoints and adapters."""
