"""The garbage collector of a service once its start-up is over (svckit.gcstats)."""

import gc

import pytest

from svckit import gcstats


@pytest.fixture
def settled():
    thresholds = gc.get_threshold()
    gcstats.settle_after_startup()
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()
    gc.callbacks.remove(gcstats._on_gc)


def test_start_up_objects_are_frozen_out_of_later_collections(settled):
    assert gc.get_freeze_count() > 0


def test_the_objects_of_calls_in_flight_are_not_collected_young_and_promoted_every_few_hundred_allocations(settled):
    young_collections = []

    def count(phase: str, info: dict) -> None:
        if phase == "start" and info["generation"] == 0:
            young_collections.append(info)

    gc.collect(0)  # the count of allocations starts at zero, whatever ran before
    gc.callbacks.append(count)
    try:
        in_flight = [{"call": n} for n in range(gcstats.YOUNG_COLLECTION_ALLOCATIONS // 2)]
    finally:
        gc.callbacks.remove(count)
    assert len(in_flight) == gcstats.YOUNG_COLLECTION_ALLOCATIONS // 2
    assert young_collections == []
