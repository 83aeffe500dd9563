"""A watcher that falls behind loses its backlog, not the others' pace: it is told to resync."""

import asyncio

from analysis_svc.service_layer.watchers import BACKLOG, RESYNC, STOP, SessionKey, Watcher

CALL = SessionKey("acme", "call")


async def test_a_slow_watcher_is_resynced_instead_of_growing_without_bound():
    watcher = Watcher(CALL)
    for event in range(BACKLOG):
        watcher.offer(event)
    assert watcher.events.qsize() == BACKLOG
    watcher.offer("one too many")
    assert watcher.events.qsize() == 1 and watcher.events.get_nowait() is RESYNC


async def test_stop_gets_through_a_full_backlog():
    watcher = Watcher(CALL)
    for event in range(BACKLOG):
        watcher.offer(event)
    watcher.offer(STOP)
    assert [watcher.events.get_nowait() for _ in range(watcher.events.qsize())][-1] is STOP


class _Announced:
    """Reads an announced analysis back, as Analyses.stored_analysis does, counting the reads."""

    def __init__(self, analysis) -> None:
        self.analysis = analysis
        self.reads = 0

    async def stored_analysis(self, organization: str, session_id: str, analysis_id: str):
        self.reads += 1
        return self.analysis


async def test_an_analysis_stored_here_reaches_the_watchers_once_whichever_path_comes_first():
    from types import SimpleNamespace

    from analysis_svc.service_layer.watchers import Watchers

    analysis = SimpleNamespace(session_id="call", id="a1")
    announced = _Announced(analysis)
    watchers = Watchers(announced, audits=None, risks=None)
    watcher = watchers.watch("acme", "call")
    watchers.stored_here("acme", analysis)
    watchers.on_change("acme/call:a1")  # its NOTIFY coming back: nothing to read
    assert not watchers._tasks and announced.reads == 0
    assert watcher.events.qsize() == 1 and watcher.events.get_nowait() is analysis

    later = SimpleNamespace(session_id="call", id="a2")
    announced.analysis = later
    watchers.on_change("acme/call:a2")  # announced first (stored by another replica, or the NOTIFY won the race)
    assert await watcher.events.get() is later
    watchers.stored_here("acme", later)
    assert watcher.events.empty() and announced.reads == 1


class _HeldReads:
    """Reads announced analyses back, each once its read is released; tells when a read has returned."""

    def __init__(self, *analyses) -> None:
        self.analyses = {analysis.id: analysis for analysis in analyses}
        self.released = {analysis.id: asyncio.Event() for analysis in analyses}
        self.returned = {analysis.id: asyncio.Event() for analysis in analyses}

    async def stored_analysis(self, organization: str, session_id: str, analysis_id: str):
        await self.released[analysis_id].wait()
        self.returned[analysis_id].set()
        return self.analyses[analysis_id]


async def test_announced_analyses_reach_the_watchers_in_the_order_they_were_stored_whichever_read_ends_first():
    from types import SimpleNamespace

    from analysis_svc.service_layer.watchers import Watchers

    first, second = SimpleNamespace(session_id="call", id="a1"), SimpleNamespace(session_id="call", id="a2")
    reads = _HeldReads(first, second)
    watchers = Watchers(reads, audits=None, risks=None)
    watcher = watchers.watch("acme", "call")
    watchers.on_change("acme/call:a1")
    watchers.on_change("acme/call:a2")
    reads.released["a2"].set()
    await reads.returned["a2"].wait()  # the second read has ended while the first is still out
    reads.released["a1"].set()
    assert [await watcher.events.get(), await watcher.events.get()] == [first, second]


async def test_a_session_of_the_same_id_in_another_organization_reaches_none_of_the_watchers():
    from types import SimpleNamespace

    from analysis_svc.service_layer.watchers import Watchers

    ours = SimpleNamespace(session_id="call", id="a1")
    announced = _Announced(ours)
    watchers = Watchers(announced, audits=None, risks=None)
    watcher = watchers.watch("acme", "call")
    watchers.stored_here("globex", SimpleNamespace(session_id="call", id="b1"))
    watchers.on_change("globex/call:b2")
    watchers.on_change("team/acme/call:b3")  # an organization holding '/' is still another one
    assert not watchers._tasks and watcher.events.empty() and announced.reads == 0
    watchers.on_change("acme/call:a1")
    assert await watcher.events.get() is ours
