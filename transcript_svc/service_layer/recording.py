"""Recording the utterances of a live stream: checked, handed to the group commit, answered by their outcome.

An utterance is acknowledged only once its commit settled it (stored, or a duplicate of what is stored);
anything else ends the stream with the status that tells the gateway what to do.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from guardrails.check_log import TOKEN_LIMIT_PASSED, CheckDecision, CheckScope
from guardrails.tokens import TokenBudget
from svckit.errors import AlreadyExists, FailedPrecondition, Unavailable
from transcript_svc.domain.model import MessageFlag, Outcome, Role, Utterance
from transcript_svc.service_layer.pii import Guarded, Protect, as_said
from transcript_svc.service_layer.ports import UtteranceCommitter


@dataclasses.dataclass(slots=True)
class TokenWatch:
    """A stream's token budget, and what the service does once the conversation passes it."""

    budget: TokenBudget
    passed: Callable[[], Awaitable[None]]


class Recording:
    def __init__(self, committer: UtteranceCommitter) -> None:
        self._committer = committer

    def stream(self, organization: str, session_id: str, epoch: int, last_durable_sequence: int,
               protect: Protect, screen_persona: Protect = as_said,
               checks: CheckScope | None = None, tokens: TokenWatch | None = None) -> StreamRecorder:
        """The recorder of the stream ``epoch`` of a session, opened when ``last_durable_sequence`` was stored,
        storing ``protect(text)`` of each utterance, of ``screen_persona(text)`` for the persona's, logging what
        they found in ``checks``' scope, and counting the words of new ones against ``tokens``."""
        return StreamRecorder(self._committer, organization, session_id, epoch, last_durable_sequence, protect,
                              screen_persona, checks, tokens)


class StreamRecorder:
    def __init__(self, committer: UtteranceCommitter, organization: str, session_id: str, epoch: int,
                 last_durable_sequence: int, protect: Protect, screen_persona: Protect = as_said,
                 checks: CheckScope | None = None, tokens: TokenWatch | None = None) -> None:
        self._committer = committer
        self._organization = organization
        self._session_id = session_id
        self._epoch = epoch
        self._highest = last_durable_sequence  # the highest sequence stored or handed to the commit
        self._protect = protect
        self._screen_persona = screen_persona
        self._checks = checks
        self._tokens = tokens

    async def record(self, utterance: Utterance) -> asyncio.Future[Outcome]:
        """Hands the utterance to the group commit (waiting while its queue is full); the future settles with
        its commit. An utterance that skips ahead of what this stream has sent is refused (SEQUENCE_GAP)."""
        expected = self._highest + 1
        if utterance.sequence > expected:
            raise FailedPrecondition(f"sequence {utterance.sequence} skips ahead; expected {expected}",
                                     reason="SEQUENCE_GAP", metadata={"expected_sequence": str(expected)})
        new = utterance.sequence > self._highest  # not one sent again
        self._highest = max(self._highest, utterance.sequence)
        said = self._screen_persona(utterance.text) if utterance.role == Role.ASSISTANT else Guarded(utterance.text)
        protected = self._protect(said.text)
        if said.findings:  # the persona's output filters: stored with the turn
            utterance = dataclasses.replace(utterance, flags=tuple(
                MessageFlag(f.rule, f.decision is CheckDecision.BLOCKED) for f in said.findings))
        if protected.text is not utterance.text:
            utterance = dataclasses.replace(utterance, text=protected.text)
        findings = said.findings + protected.findings
        if new and self._tokens is not None and self._tokens.budget.spend(utterance.word_count):
            findings += (TOKEN_LIMIT_PASSED,)
            await self._tokens.passed()
        if not (findings and self._checks):  # most utterances: nothing found, nothing to log
            return await self._committer.submit(self._organization, self._session_id, utterance, self._epoch)
        subject, now = f"sessions/{self._session_id}/messages/{utterance.sequence}", datetime.now(UTC)
        # Logged as stored: a blocked turn as its marker, personal data as handled.
        checks = tuple(self._checks.record(finding, utterance.text, subject, now) for finding in findings)
        return await self._committer.submit(self._organization, self._session_id, utterance, self._epoch, checks,
                                            self._checks.alert_score)


async def acknowledged_as_duplicate(sequence: int, commit: asyncio.Future[Outcome]) -> bool:
    """Whether the settled utterance ``sequence`` is acknowledged as a duplicate (else as stored).

    Raises the error that ends the stream when it was not stored: its commit failed or found an earlier
    utterance missing (UNAVAILABLE: reconnect and resume), or the sequence holds other content (ALREADY_EXISTS).
    """
    try:
        outcome = await commit
    except Exception as error:
        raise Unavailable(f"storing utterance {sequence} failed; reconnect and resume ({type(error).__name__})",
                          reason="COMMIT_FAILED") from error
    if outcome is Outcome.GAP:
        raise Unavailable(f"utterance {sequence} was not stored: an earlier one is not durable; reconnect and resume",
                          reason="COMMIT_FAILED")
    if outcome is Outcome.CONFLICT:
        raise AlreadyExists(f"sequence {sequence} is already stored with another role or text",
                            reason="SEQUENCE_CONFLICT", metadata={"sequence": str(sequence)})
    return outcome is Outcome.DUPLICATE

