"""An entry of a cache given a maximum age is read again once it is that old, whatever invalidations were heard."""

from __future__ import annotations

from svckit import cache
from svckit.cache import InvalidatedCache


def test_an_entry_older_than_the_maximum_age_is_a_miss(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(cache.time, "monotonic", lambda: now[0])
    ages: InvalidatedCache[str, str] = InvalidatedCache("test_ages", max_age_seconds=60)
    ages.enable()
    ages.put("acme", "rules", ages.generation)
    now[0] += 60
    assert ages.get("acme") == "rules"
    now[0] += 1
    assert ages.get("acme") is None


def test_without_a_maximum_age_an_entry_stays_until_invalidated(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(cache.time, "monotonic", lambda: now[0])
    kept: InvalidatedCache[str, str] = InvalidatedCache("test_kept")
    kept.enable()
    kept.put("acme", "rules", kept.generation)
    now[0] += 86_400
    assert kept.get("acme") == "rules"
    kept.invalidate("acme")
    assert kept.get("acme") is None
