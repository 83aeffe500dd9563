"""Guardrail checks logged with the risk they add to their session (``guardrails.risk``)."""

from __future__ import annotations

from guardrails.check_log import GuardrailCheck
from guardrails.risk import risk_points
from transcript_svc.service_layer.ports import TranscriptUnitOfWork


async def log_checks(uow: TranscriptUnitOfWork, alert_score: int, *checks: GuardrailCheck) -> None:
    """Logs checks of one session in ``uow``'s transaction and adds their risk to the session, which alerts from
    ``alert_score`` (0: never); a new score is queued for the session's watchers."""
    await uow.guardrail_checks.add(*checks)
    points = risk_points(checks)
    if not points:
        return
    if await uow.guardrail_checks.add_risk(checks[0].scope(alert_score), points):
        await uow.announce.outbox_due()
