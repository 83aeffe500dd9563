"""Clients of one service used by several others, as adapters they share.

A client of another service is an adapter, not runtime, so it does not belong in svckit; and one client per
service keeps deadlines and the mapping of its failures to domain errors the same for every caller. Each
service's adapters/ wraps it for its own port."""
