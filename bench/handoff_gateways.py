"""The simulated gateways and watchers of the handoff part: each session is watched, streamed up to the message whose
reading fires the switching rule, and timed until its gateway reads the HANDOFF command.

Run in a process of its own by default (``python -m bench.handoff_gateways``, a child of the benchmark), so the
client that measures takes none of the event loop, and less of the CPU, of the process that starts the services;
``--handoff-gateways-in-process`` runs ``handoffs`` in the benchmark's own process, as it was first measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc
from sparring.transcript.v1 import transcript_service_pb2 as tpb
from sparring.transcript.v1 import transcript_service_pb2_grpc as tpb_grpc

from bench.analysis import Watcher
from bench.load import open_channels
from devtools.gateway import Gateway, utterance_frame
from svckit import eventloop

# A call whose first reading (at its fourth message, the sessions' analysis interval) sees the candidate ask about
# pricing: the benchmark's switching rule hands it to finance.
CALL = [(tpb.ROLE_ASSISTANT, "Thanks for making the time today."),
        (tpb.ROLE_USER, "Happy to. We ship about a thousand orders a day."),
        (tpb.ROLE_USER, "So what does the pricing look like for a team our size?"),
        (tpb.ROLE_ASSISTANT, "Let me think about who should answer that.")]
TRIGGER = len(CALL)
WAIT = 10.0  # seconds a handoff may take before its session is counted missing


@dataclass(frozen=True)
class Timing:
    """One session's handoff, in ms."""

    fired_to_command: float
    ack_to_command: float
    ack_to_reading: float


async def _one(transcripts: tpb_grpc.TranscriptServiceStub, analysis_channel: grpc.aio.Channel,
               session: str) -> Timing | None:
    """The timing of one session's handoff, None when its handoff did not come within WAIT."""
    watcher = Watcher(analysis_channel, session)
    await watcher.open()
    gateway = Gateway(transcripts, session)
    try:
        async with asyncio.timeout(WAIT):
            await gateway.read()  # opened
            gateway.send(*(utterance_frame(n, role, text) for n, (role, text) in enumerate(CALL, start=1)))
            await gateway.acks_until(TRIGGER)
            acked = time.perf_counter_ns()
            while not ((frame := await gateway.read()).HasField("command")
                       and frame.command.type == tpb.COMMAND_TYPE_HANDOFF):
                pass
            handed, handed_on_clock = time.perf_counter_ns(), time.time_ns()
            await watcher.wait_for([TRIGGER], WAIT)
        return Timing((handed_on_clock - watcher.stored_ns[TRIGGER]) / 1e6, (handed - acked) / 1e6,
                      (watcher.arrived_ns[TRIGGER] - acked) / 1e6)
    except TimeoutError:
        return None
    finally:
        gateway.close()
        gateway.call.cancel()
        await watcher.close()


async def handoffs(transcript_address: str, analysis_address: str, sessions: list[str], concurrency: int,
                   rate: float | None = None) -> tuple[list[Timing], list[str]]:
    """The timings of the sessions' handoffs, and the sessions missing theirs. Closed loop, ``concurrency`` sessions
    at a time, unless ``rate`` is given: then open loop, a session started every 1/``rate`` s whatever the others
    are doing (the offered load stays fixed however slow the services get)."""
    transcript_channel = open_channels(transcript_address, 1)[0]
    analysis_channel = open_channels(analysis_address, 1)[0]
    limit: contextlib.AbstractAsyncContextManager[object] = (
        asyncio.Semaphore(concurrency) if rate is None else contextlib.nullcontext())
    transcripts = tpb_grpc.TranscriptServiceStub(transcript_channel)
    began = asyncio.get_running_loop().time()

    async def one(index: int, session: str) -> Timing | None:
        if rate is not None:
            await asyncio.sleep(began + index / rate - asyncio.get_running_loop().time())
        async with limit:
            return await _one(transcripts, analysis_channel, session)

    try:
        results = await asyncio.gather(*(one(i, s) for i, s in enumerate(sessions)))
    finally:
        await transcript_channel.close()
        await analysis_channel.close()
    return [r for r in results if r is not None], [s for s, r in zip(sessions, results, strict=True) if r is None]


def write(path: Path, timed: list[Timing], missing: list[str]) -> None:
    path.write_text(json.dumps({"timed": [asdict(t) for t in timed], "missing": missing}))


def read(path: Path) -> tuple[list[Timing], list[str]]:
    written = json.loads(path.read_text())
    return [Timing(**t) for t in written["timed"]], written["missing"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transcript", required=True, help="the transcript service's address")
    parser.add_argument("--analysis", required=True, help="the analysis service's address")
    parser.add_argument("--sessions", type=Path, required=True, help="a JSON list of the sessions' names")
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--rate", type=float, help="sessions started per second (open loop); closed loop without")
    parser.add_argument("--out", type=Path, required=True, help="where the timings go (JSON)")
    args = parser.parse_args()
    timed, missing = eventloop.run(handoffs(args.transcript, args.analysis, json.loads(args.sessions.read_text()),
                                            args.concurrency, args.rate))
    write(args.out, timed, missing)


if __name__ == "__main__":
    main()
