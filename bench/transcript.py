"""The transcript service under load, and its two references: processes, sessions, utterances, checks.

- the service: ``python -m transcript_svc`` (it migrates the database first);
- the ceiling: ``bench.ceiling_stream_server``, the same group commit behind a bare bidi server;
- the design it replaces: ``bench.unary_insert_server``, one unary call and one INSERT per utterance.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.transcript.v1 import transcript_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc as pb_grpc

from bench import services
from bench.children import ChildProcess, environment, free_port, start_module
from bench.load import Call
from bench.security import ORGANIZATION, SECURE, Mode
from bench.streams import ROLES, GatewayStream
from bench.unary_insert_server import FULL_METHOD as UNARY_METHOD
from svckit.notify import libpq_url
from transcript_svc.config import TranscriptSettings

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["TranscriptService"].full_name
_DEFAULTS = TranscriptSettings.model_fields
COMMIT_MAX_BATCH: int = _DEFAULTS["commit_max_batch"].default
COMMIT_MAX_DELAY_MS: float = _DEFAULTS["commit_max_delay_ms"].default
ANALYSIS_INTERVAL: int = _DEFAULTS["analysis_interval"].default
MAX_OPEN_STREAMS: int = _DEFAULTS["max_open_streams"].default
UNARY_POOL_SIZE = 20

# What a candidate and a persona say in a sales discovery call: 10 to 30 words each.
TEXTS = (
    "Thanks for making the time today, I know the end of the quarter is a busy period for your team.",
    "Sure, happy to chat. We have thirty minutes, so let's keep it focused.",
    "Could you walk me through how your team handles vendor onboarding today, from the first request to "
    "the signed contract?",
    "Honestly it's mostly spreadsheets and email threads, and procurement gets involved far too late in "
    "the process, usually after someone has promised the vendor a start date.",
    "What does that cost you when a renewal slips through the cracks or a contract auto-renews at the "
    "wrong price?",
    "Last year we overpaid on two software renewals by roughly forty thousand dollars because nobody "
    "flagged the dates in time.",
    "That's a real number. Who else would feel that pain besides finance, and who would sign off on "
    "fixing it?",
    "Our CFO owns the budget, but the operations director would have to champion anything new with the "
    "leadership team.",
    "Understood. Is there a budget set aside for this, or would it need to come out of next year's "
    "planning cycle?",
    "We have some discretionary spend this quarter, but anything above fifty thousand needs a formal "
    "business case.",
    "What would success look like for you and your team six months after rollout?",
    "Fewer surprise renewals, a single view of every contract, and a clean audit trail for the "
    "compliance team.",
    "We see that a lot. One customer cut missed renewals to zero within a quarter of going live with "
    "us.",
    "I've heard that pitch before. How long does implementation actually take for a company our size, "
    "realistically?",
    "For about two hundred vendors, most teams are live in six weeks, with our onboarding team doing the "
    "data migration.",
    "Six weeks sounds optimistic. Our IT team is already stretched with the ERP upgrade until the end "
    "of spring, and they will push back on any new integration.",
    "That's fair. Would it help if we scoped a pilot with just the software contracts, so IT barely "
    "needs to be involved?",
    "Maybe. I would need to see your pricing first, though, honestly.",
    "Of course. Pricing depends on the number of contracts; for your volume it would land in the mid "
    "five figures annually.",
    "That's higher than I expected. A competitor quoted us noticeably less for what sounded like the "
    "same features.",
    "I understand. Could we compare what's included side by side, especially the renewal alerts, the "
    "audit reporting and the onboarding support?",
    "Okay, send me a comparison I can forward to the CFO.",
    "Great. Shall we book thirty minutes next Thursday with you and the operations director to review "
    "it together?",
    "Let me check his calendar first and get back to you by Monday with a couple of times that work.",
)


@dataclass
class Started:
    """A server of the transcript benchmark: its process, its gRPC address, its /metrics port (if any)."""

    child: ChildProcess
    address: str
    metrics_port: int | None = None


def start_service(root: Path, database_url: str, log_dir: Path, persona_address: str, profile_to: Path | None = None,
                  max_open_streams: int = MAX_OPEN_STREAMS, mode: Mode = SECURE) -> Started:
    """``python -m transcript_svc`` with its default group commit and window; no analysis service; sessions
    checked against the persona service at ``persona_address`` (of the same ``mode``)."""
    metrics_port = free_port()
    child, address = services.start_service(
        "transcript_svc", "TRANSCRIPT", root, database_url, log_dir / mode.log_name("transcript"), profile_to,
        env={"TRANSCRIPT_ANALYSIS_ADDRESS": None, "TRANSCRIPT_MAX_IN_FLIGHT": None,
             "TRANSCRIPT_COMMIT_MAX_BATCH": str(COMMIT_MAX_BATCH),
             "TRANSCRIPT_COMMIT_MAX_DELAY_MS": f"{COMMIT_MAX_DELAY_MS:g}",
             "TRANSCRIPT_MAX_OPEN_STREAMS": str(max_open_streams),
             "TRANSCRIPT_PERSONA_ADDRESS": persona_address,
             "TRANSCRIPT_METRICS_PORT": str(metrics_port)},
        name=mode.named("transcript service"), mode=mode)
    return Started(child, address, metrics_port)


def start_ceiling(root: Path, database_url: str, log_dir: Path, profile_to: Path | None = None,
                  mode: Mode = SECURE) -> Started:
    port, metrics_port = free_port(), free_port()
    argv = ["bench.ceiling_stream_server", "--port", str(port), "--max-batch", str(COMMIT_MAX_BATCH),
            "--max-delay-ms", f"{COMMIT_MAX_DELAY_MS:g}", "--metrics-port", str(metrics_port)]
    env = environment({**mode.environment(), "DATABASE_URL": database_url})
    child = start_module(mode.named("stream ceiling server"), argv, root,
                         log_dir / mode.log_name("ceiling-stream-server"), env, profile_to)
    return Started(child, f"127.0.0.1:{port}", metrics_port)


def start_unary(root: Path, database_url: str, log_dir: Path, pool_size: int = UNARY_POOL_SIZE,
                profile_to: Path | None = None) -> Started:
    port = free_port()
    argv = ["bench.unary_insert_server", "--port", str(port), "--pool-size", str(pool_size)]
    env = environment({**SECURE.environment(), "DATABASE_URL": database_url})
    child = start_module("unary insert server", argv, root, log_dir / "unary-insert-server.log", env, profile_to)
    return Started(child, f"127.0.0.1:{port}")


async def wait_service(child: ChildProcess, channel: grpc.aio.Channel) -> None:
    await services.wait_healthy(child, channel, SERVICE_NAME)


# --- sessions ---------------------------------------------------------------------------------------


def _session_ids(label: str, count: int) -> list[str]:
    run = uuid.uuid4().hex[:6]
    return [f"bench-{label}-{run}-{i}" for i in range(count)]


async def create_sessions(channel: grpc.aio.Channel, label: str, count: int, concurrency: int = 20,
                          persona: str = "personas/sarah-chen") -> list[str]:
    """Sessions of ``persona`` created through the service's API, as a client would; returns their names."""
    stub = pb_grpc.TranscriptServiceStub(channel)
    limit = asyncio.Semaphore(concurrency)

    async def one(session_id: str) -> str:
        async with limit:
            reply = await stub.CreateSession(pb.CreateSessionRequest(session=pb.Session(
                persona=persona, scenario="scenarios/q2-cost-reduction",
                blueprint=persona_pb.BLUEPRINT_SALES), session_id=session_id), timeout=30)
            return reply.session.name

    return list(await asyncio.gather(*(one(i) for i in _session_ids(label, count))))


async def insert_sessions(database_url: str, label: str, count: int) -> list[str]:
    """Sessions written straight into ``transcript.sessions`` (for the bare servers); returns their names."""
    ids = _session_ids(label, count)
    connection = await asyncpg.connect(libpq_url(database_url), timeout=10)
    try:
        await connection.execute(
            """
            INSERT INTO transcript.sessions (organization, id, persona, scenario, blueprint, round_number, state,
                                             analysis_interval, start_time, revision, update_time)
            SELECT $3, id, 'personas/sarah-chen', 'scenarios/q2-cost-reduction', 'sales', 1, 'active', $2, now(), 1,
                   now()
            FROM unnest($1::text[]) AS id
            """, ids, ANALYSIS_INTERVAL, ORGANIZATION)
    finally:
        await connection.close()
    return [f"sessions/{i}" for i in ids]


# --- the one-call-per-message design ------------------------------------------------------------------


def unary_calls(channels: Sequence[grpc.aio.Channel], sessions: Sequence[str]) -> list[Call]:
    """One call per session, session i's on channel i % len(channels): give ``bench.load`` as many clients as
    sessions and each client sends its own session's sequences 1, 2, 3..."""

    def call_of(channel: grpc.aio.Channel, session: str, offset: int) -> Call:
        method = channel.unary_unary(UNARY_METHOD, request_serializer=pb.Message.SerializeToString,
                                     response_deserializer=pb.UtteranceAck.FromString)
        sequences = itertools.count(1)

        def call(_counter: int):
            sequence = next(sequences)
            now = time.time_ns()
            return method(pb.Message(
                name=f"{session}/messages/{sequence}", sequence=sequence, role=ROLES[sequence % 2],
                text=TEXTS[(offset + sequence) % len(TEXTS)],
                spoken_time=Timestamp(seconds=now // 1_000_000_000, nanos=now % 1_000_000_000)))

        return call

    return [call_of(channels[i % len(channels)], s, i * 7) for i, s in enumerate(sessions)]


# --- nothing lost -----------------------------------------------------------------------------------


@dataclass
class LossCheck:
    """The streams' view (sent, acked) against the database's (stored) after the streams ended."""

    sessions: int
    sent: int
    acked: int
    stored: int
    mismatched: list[str]  # sessions whose stored rows are not exactly sequences 1..last acked
    duplicates_acked: int
    failed_streams: int

    @property
    def passed(self) -> bool:
        return (not self.mismatched and not self.duplicates_acked and not self.failed_streams
                and self.sent == self.acked == self.stored)

    def describe(self) -> str:
        text = (f"{self.sessions:,} sessions: {self.sent:,} utterances sent, {self.acked:,} acked, {self.stored:,} "
                f"stored; {len(self.mismatched)} sessions whose stored rows differ from 1..last acked")
        if self.duplicates_acked:
            text += f", {self.duplicates_acked} acks flagged duplicate"
        if self.failed_streams:
            text += f", {self.failed_streams} streams failed"
        return text


async def check_nothing_lost(database_url: str, streams: Sequence[GatewayStream]) -> LossCheck:
    """For each session: rows stored == last acked sequence, the highest one stored is that sequence, and the
    sequences are distinct (the primary key makes them so; counted anyway), i.e. exactly 1..last acked."""
    by_id = {s.session.removeprefix("sessions/"): s for s in streams}
    connection = await asyncpg.connect(libpq_url(database_url), timeout=10)
    try:
        rows = await connection.fetch(
            """
            SELECT s.id, count(m.sequence) AS stored, count(DISTINCT m.sequence) AS distinct_sequences,
                   coalesce(max(m.sequence), 0) AS highest, coalesce(min(m.sequence), 0) AS lowest
            FROM unnest($1::text[]) AS s(id) LEFT JOIN transcript.messages m ON m.session_id = s.id
            GROUP BY s.id
            """, list(by_id))
    finally:
        await connection.close()
    mismatched = []
    for row in rows:
        acked = by_id[row["id"]].acked
        expected_lowest = 1 if acked else 0
        if not (row["stored"] == row["distinct_sequences"] == row["highest"] == acked
                and row["lowest"] == expected_lowest):
            mismatched.append(f"{row['id']}: acked {acked}, stored {row['stored']} rows "
                              f"({row['lowest']}..{row['highest']}, {row['distinct_sequences']} distinct)")
    return LossCheck(
        sessions=len(streams), sent=sum(s.sent for s in streams), acked=sum(s.acked for s in streams),
        stored=sum(row["stored"] for row in rows), mismatched=mismatched,
        duplicates_acked=sum(s.duplicates for s in streams),
        failed_streams=sum(s.failure is not None for s in streams))


# --- what the group commit did ------------------------------------------------------------------------


@dataclass
class CommitStats:
    """Totals of a server's group-commit metrics (and, for the service, its ack latency histogram)."""

    commits: float = 0.0
    utterances: float = 0.0
    commit_seconds: float = 0.0
    acks: float = 0.0  # the service only: utterances acked...
    ack_seconds: float = 0.0  # ...and the sum of their arrival-to-ack-queued times

    def __sub__(self, other: CommitStats) -> CommitStats:
        return CommitStats(*(a - b for a, b in zip(self.values(), other.values(), strict=True)))

    def __add__(self, other: CommitStats) -> CommitStats:
        return CommitStats(*(a + b for a, b in zip(self.values(), other.values(), strict=True)))

    def values(self) -> tuple[float, ...]:
        return self.commits, self.utterances, self.commit_seconds, self.acks, self.ack_seconds

    @property
    def mean_group(self) -> float:
        return self.utterances / self.commits if self.commits else float("nan")

    @property
    def mean_commit_ms(self) -> float:
        return self.commit_seconds / self.commits * 1000 if self.commits else float("nan")

    @property
    def mean_ack_ms(self) -> float:
        return self.ack_seconds / self.acks * 1000 if self.acks else float("nan")


_SAMPLES = {
    "sparring_transcript_commit_seconds_count": "commits",
    "sparring_transcript_commit_group_size_sum": "utterances",
    "sparring_transcript_commit_seconds_sum": "commit_seconds",
    "sparring_transcript_ack_seconds_count": "acks",
    "sparring_transcript_ack_seconds_sum": "ack_seconds",
}


async def metric_families(metrics_port: int | None) -> list[Metric]:
    """The server's /metrics, parsed (none without a port or if it does not answer)."""
    if metrics_port is None:
        return []

    def fetch() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
            return response.read().decode()

    try:
        text = await asyncio.to_thread(fetch)
    except OSError:
        return []
    return list(text_string_to_metric_families(text))


async def metric_samples(metrics_port: int | None) -> dict[str, float]:
    """The server's unlabelled samples from its /metrics, by name (none without a port or if it does not answer)."""
    return {sample.name: sample.value for family in await metric_families(metrics_port)
            for sample in family.samples if not sample.labels}


async def commit_stats(metrics_port: int | None) -> CommitStats:
    """The server's totals so far, from its /metrics (all zero without a port or if it does not answer)."""
    samples = await metric_samples(metrics_port)
    return CommitStats(**{field: samples.get(name, 0.0) for name, field in _SAMPLES.items()})
