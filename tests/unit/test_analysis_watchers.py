"""A watcher that falls behind loses its backlog, not the others' pace: it is told to resync."""


from analysis_svc.service_layer.watchers import BACKLOG, RESYNC, STOP, Watcher


async def test_a_slow_watcher_is_resynced_instead_of_growing_without_bound():
    watcher = Watcher("call")
    for event in range(BACKLOG):
        watcher.offer(event)
    assert watcher.events.qsize() == BACKLOG
    watcher.offer("one too many")
    assert watcher.events.qsize() == 1 and watcher.events.get_nowait() is RESYNC


async def test_stop_gets_through_a_full_backlog():
    watcher = Watcher("call")
    for event in range(BACKLOG):
        watcher.offer(event)
    watcher.offer(STOP)
    assert [watcher.events.get_nowait() for _ in range(watcher.events.qsize())][-1] is STOP
