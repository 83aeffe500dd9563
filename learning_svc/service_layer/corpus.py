"""What the personas learn from: the audits corpus, feedback per trace, and the training events both become.

Audits and feedback are kept as the documents they arrived as (contract-shaped dicts); each one
also writes one normalised training event in the same transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from calls.persona_audit import AuditScores, FlaggedQuote, FlagReason, WordRange
from learning_svc.domain.evolution import CorpusAudit
from learning_svc.domain.modules import TrainingEventSource, audit_signal, feedback_signal
from learning_svc.service_layer.organizations import owner
from learning_svc.service_layer.ports import Document, Filters, TrainingEvent, UnitsOfWork
from svckit.errors import NotFound
from svckit.pagination import PageTokens, page_size
from svckit.usecase import Page

MAX_EVENT_PAGE = 1000
DEFAULT_EVENT_PAGE = 100


@dataclass(frozen=True)
class Recorded:
    document: Document
    duplicate: bool


def scores_of(document: Document) -> AuditScores:
    scores = document.get("scores", {})
    return AuditScores(*(int(scores.get(name, 0)) for name in
                         ("brevity", "authenticity", "consistency", "enthusiasm_leak", "pacing")))


def _flagged_quote(quote: Document) -> FlaggedQuote:
    return FlaggedQuote(int(quote.get("sequence", 0)), quote.get("text", ""),
                        FlagReason[quote.get("reason", "FLAG_REASON_OTHER").removeprefix("FLAG_REASON_")],
                        quote.get("explanation", ""), quote.get("candidate_text", ""))


def corpus_audit(document: Document) -> CorpusAudit:
    target = document.get("target_words_per_turn", {})
    return CorpusAudit(
        name=document["name"], persona=document["persona"],
        persona_display_name=document.get("persona_display_name", ""), archetype=document.get("archetype", ""),
        difficulty=int(document.get("difficulty", 0)), scores=scores_of(document),
        overall_score=float(document.get("overall_score", 0.0)),
        avg_words_per_turn=float(document.get("avg_words_per_turn", 0.0)),
        target_words_per_turn=WordRange(int(target.get("min_words", 0)), int(target.get("max_words", 0))),
        persona_turn_count=int(document.get("persona_turn_count", 0)),
        flagged_quotes=tuple(_flagged_quote(quote) for quote in document.get("flagged_quotes", [])),
        audit_time=datetime.fromisoformat(document["audit_time"].replace("Z", "+00:00")),
    )


def _as_text(filters: Filters) -> dict[str, str]:
    return {key: str(value) for key, value in filters.items()}


class Corpus:
    def __init__(self, units: UnitsOfWork, page_tokens: PageTokens) -> None:
        self._units = units
        self._tokens = page_tokens

    # --- audits -------------------------------------------------------------------------------

    async def record_audit(self, organization: str, audit_id: str, document: Document) -> Recorded:
        """Stores the audit and its training event once; a repeat returns the stored one (the source audit is
        the idempotency key, so no request id is needed)."""
        document = {**document, "name": f"corpusAudits/{audit_id}"}
        async with self._units.transaction(owner(organization)) as uow:
            fresh = await uow.audits.add(audit_id, document)
            if fresh:
                signal = audit_signal(document["persona"], scores_of(document))
                await uow.events.add(str(uuid.uuid4()), TrainingEventSource.PERSONA_AUDIT, document["name"], signal)
            stored = _found(await uow.audits.get(audit_id), f"corpusAudits/{audit_id}", "AUDIT_NOT_FOUND")
            await uow.commit()
        return Recorded(stored, duplicate=not fresh)

    async def get_audit(self, organization: str, audit_id: str) -> Document:
        async with self._units.read(organization) as uow:
            return _found(await uow.audits.get(audit_id), f"corpusAudits/{audit_id}", "AUDIT_NOT_FOUND")

    async def list_audits(self, organization: str, filters: Filters, requested_size: int,
                          token: str) -> Page[Document]:
        """Newest audit_time first, by archetype, difficulty, persona and a time range."""
        size = page_size(requested_size)
        after = self._tokens.decode(token, _as_text(filters))
        async with self._units.read(organization) as uow:
            listed = await uow.audits.page(filters, after, size + 1)
        kept, next_token = self._tokens.page(listed, size, lambda item: item.cursor, _as_text(filters))
        return Page([item.item for item in kept], next_token)

    async def recent_audits(self, organization: str, archetype: str | None, limit: int) -> list[CorpusAudit]:
        """The most recent audits in scope (one archetype, or all when None), for an evolution run."""
        async with self._units.read(organization) as uow:
            documents = await uow.audits.recent(archetype, limit)
        return [corpus_audit(document) for document in documents]

    # --- feedback -----------------------------------------------------------------------------

    async def record_feedback(self, organization: str, document: Document) -> Recorded:
        """The first feedback of a trace wins; a repeat returns it with duplicate set."""
        trace_id = document["trace_id"]
        name = f"feedback/{trace_id}"
        event_id = str(uuid.uuid4())
        async with self._units.transaction(owner(organization)) as uow:
            fresh = await uow.feedback.add(trace_id, {**document, "name": name,
                                                      "training_event": f"trainingEvents/{event_id}"})
            if fresh:
                signal = feedback_signal(document["persona"], document.get("intent_label", ""),
                                         float(document.get("score", 0.0)), document.get("reason", ""))
                await uow.events.add(event_id, TrainingEventSource.FEEDBACK, name, signal)
            stored = _found(await uow.feedback.get(trace_id), name, "FEEDBACK_NOT_FOUND")
            await uow.commit()
        return Recorded(stored, duplicate=not fresh)

    async def get_feedback(self, organization: str, trace_id: str) -> Document:
        async with self._units.read(organization) as uow:
            return _found(await uow.feedback.get(trace_id), f"feedback/{trace_id}", "FEEDBACK_NOT_FOUND")

    # --- training events ----------------------------------------------------------------------

    async def list_events(self, organization: str, filters: Filters, requested_size: int,
                          token: str) -> Page[TrainingEvent]:
        """Oldest first."""
        size = page_size(requested_size, default=DEFAULT_EVENT_PAGE, maximum=MAX_EVENT_PAGE)
        after = self._tokens.decode(token, filters)
        async with self._units.read(organization) as uow:
            listed = await uow.events.page(filters, after, size + 1)
        kept, next_token = self._tokens.page(listed, size, lambda item: item.cursor, filters)
        return Page([item.item for item in kept], next_token)


def _found(document: Document | None, name: str, reason: str) -> Document:
    if document is None:
        raise NotFound(name, reason=reason)
    return document
