"""A PostgreSQL connection for the group committer that fails where a test says: before a statement (its
connection found terminated) or after a commit has run (its answer lost)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


def lost_connection() -> asyncpg.ConnectionDoesNotExistError:
    return asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")


@dataclass
class Faults:
    """Where the connections made by ``connect`` fail, by the number of the database call counted across all of
    them: a call in ``lost_calls`` finds its connection terminated; a commit in ``lost_commit_answers`` runs, then
    its connection is terminated before the answer arrives."""

    url: str
    lost_calls: frozenset[int] = frozenset()
    lost_commit_answers: frozenset[int] = frozenset()
    calls: int = 0
    commits: int = 0
    lose_next: int = 0  # the next this many calls find their connection terminated

    async def connect(self) -> FlakyConnection:
        return FlakyConnection(await asyncpg.connect(self.url), self)

    def before_call(self, connection: asyncpg.Connection) -> None:
        self.calls += 1
        if self.lose_next or self.calls in self.lost_calls:
            self.lose_next = max(0, self.lose_next - 1)
            connection.terminate()
            raise lost_connection()


class FlakyConnection:
    """The part of asyncpg.Connection the committer uses, failing where ``Faults`` says."""

    def __init__(self, real: asyncpg.Connection, faults: Faults) -> None:
        self._real = real
        self._faults = faults

    async def fetch(self, *args):
        self._faults.before_call(self._real)
        return await self._real.fetch(*args)

    async def execute(self, *args):
        self._faults.before_call(self._real)
        return await self._real.execute(*args)

    def transaction(self) -> FlakyTransaction:
        return FlakyTransaction(self._real, self._faults)

    def is_closed(self) -> bool:
        return self._real.is_closed()

    def terminate(self) -> None:
        self._real.terminate()

    async def close(self) -> None:
        await self._real.close()


class FlakyTransaction:
    def __init__(self, real: asyncpg.Connection, faults: Faults) -> None:
        self._real = real
        self._faults = faults
        self._transaction = real.transaction()

    async def __aenter__(self) -> None:
        self._faults.before_call(self._real)
        await self._transaction.start()

    async def __aexit__(self, error_type, error, traceback) -> bool:
        if error_type is not None:
            if not self._real.is_closed():
                await self._transaction.rollback()
            return False
        self._faults.before_call(self._real)
        await self._transaction.commit()
        self._faults.commits += 1
        if self._faults.commits in self._faults.lost_commit_answers:
            self._real.terminate()
            raise lost_connection()
        return False
