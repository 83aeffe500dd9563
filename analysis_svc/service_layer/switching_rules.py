"""Switching rules: kept per organization, evaluated at every live reading; the rule that fires raises a HANDOFF
suggestion, which the interviewer applies or which applies itself when the rule says so.

A reading takes its organization's rules from a bounded cache rather than the database: a rule created or deleted
on any replica drops the organization's entry on every replica (NOTIFY), so the next reading reads them again. While
those notifications cannot be heard the cache is bypassed, and an entry is read again after
``RULES_MAX_AGE_SECONDS`` whatever was heard."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from datetime import UTC, datetime

from prometheus_client import Counter

from analysis_svc.domain.model import StoredAnalysis
from analysis_svc.domain.suggestions import Priority, Suggestion, SuggestionType
from analysis_svc.domain.switching import LiveMoment, SwitchingRule, check_rule, rule_suggestion_id, rule_that_fires
from analysis_svc.service_layer.ports import Database, HandoffStarter, UnitOfWork
from analysis_svc.service_layer.suggestion_actions import resolve_suggestion
from svckit.cache import InvalidatedCache
from svckit.errors import AlreadyExists, DomainError, FailedPrecondition, NotFound, Violations
from svckit.names import check_resource_id
from svckit.usecase import Mutation, run_idempotent

log = logging.getLogger("analysis.switching")

RULES_FIRED = Counter("sparring_switching_rules_fired_total",
                      "Switching rules that raised a handoff suggestion, by whether the rule applies it itself",
                      ["auto_apply"])
AUTO_APPLY_FAILURES = Counter("sparring_switching_rule_auto_apply_failures_total",
                              "Handoff suggestions a rule could not apply itself (left open for the interviewer)",
                              ["reason"])
_LABEL_CHARS = 100
# Organizations whose rules are cached, and how long an entry is trusted without a change being heard.
CACHED_ORGANIZATIONS = 10_000
RULES_MAX_AGE_SECONDS = 60.0


def rule_not_found(rule_id: str) -> NotFound:
    return NotFound(f"switchingRules/{rule_id}", reason="SWITCHING_RULE_NOT_FOUND")


def handoff_suggestion(rule: SwitchingRule) -> Suggestion:
    return Suggestion(SuggestionType.HANDOFF, rule.reason, Priority.HIGH,
                      f"Hand over to {rule.to_persona}"[:_LABEL_CHARS], switching_rule=rule.resource_name)


class SwitchingRules:
    def __init__(self, database: Database, handoffs: HandoffStarter) -> None:
        self._database = database
        self._handoffs = handoffs
        # Enabled by the owner while the rules' change notifications are heard (see ``changed``).
        self.cache: InvalidatedCache[str, tuple[SwitchingRule, ...]] = InvalidatedCache(
            "switching_rules", CACHED_ORGANIZATIONS, RULES_MAX_AGE_SECONDS)

    def changed(self, organization: str) -> None:
        """The organization's rules changed, here or on another replica: the next reading reads them again."""
        self.cache.invalidate(organization)

    async def create(self, draft: SwitchingRule, rule_id: str, mutation: Mutation) -> SwitchingRule:
        violations = Violations()
        if rule_id:
            check_resource_id(violations, "switching_rule_id", rule_id)
        check_rule(draft, violations)
        violations.raise_if_any()
        organization = mutation.caller.organization
        rule = dataclasses.replace(draft, id=rule_id or str(uuid.uuid4()), create_time=datetime.now(UTC))

        async def run() -> SwitchingRule:
            if not await uow.switching_rules.add(organization, rule):
                raise AlreadyExists(f"{rule.resource_name} already exists", reason="SWITCHING_RULE_EXISTS",
                                    metadata={"resource": rule.resource_name})
            return rule

        async with self._database.transaction() as uow:
            created = await run_idempotent(uow.requests_of(organization), mutation, "CreateSwitchingRule", run,
                                           SwitchingRule)
            await uow.announce_rules(organization)
            await uow.commit()
        self.changed(organization)  # this replica's next reading, without waiting for the notification
        return created

    async def get(self, organization: str, rule_id: str) -> SwitchingRule:
        async with self._database.read() as uow:
            rule = await uow.switching_rules.get(organization, rule_id)
        if rule is None:
            raise rule_not_found(rule_id)
        return rule

    async def list(self, organization: str) -> list[SwitchingRule]:
        async with self._database.read() as uow:
            return await uow.switching_rules.active(organization)

    async def delete(self, rule_id: str, mutation: Mutation) -> None:
        organization = mutation.caller.organization

        async def run() -> None:
            if not await uow.switching_rules.delete(organization, rule_id, datetime.now(UTC)):
                raise rule_not_found(rule_id)

        async with self._database.transaction() as uow:
            await run_idempotent(uow.requests_of(organization), mutation, "DeleteSwitchingRule", run, None)
            await uow.announce_rules(organization)
            await uow.commit()
        self.changed(organization)

    async def fired(self, organization: str, moment: LiveMoment, handoff_open: bool) -> SwitchingRule | None:
        """The rule that fires at this moment of the call, unless a handoff suggested earlier is still open."""
        if handoff_open:
            return None
        rules = await self.cache.get_or_load(organization, lambda: self._active(organization))
        return rule_that_fires(rules or (), moment)

    async def _active(self, organization: str) -> tuple[SwitchingRule, ...]:
        async with self._database.read() as uow:
            return tuple(await uow.switching_rules.active(organization))

    async def start(self, uow: UnitOfWork, organization: str, session_id: str, suggestion_name: str,
                    rule_name: str) -> str:
        """Starts the handoff a suggestion of ``rule_name`` asks for; the command's name."""
        rule = await uow.switching_rules.get(organization, rule_name.removeprefix("switchingRules/"))
        if rule is None:
            raise FailedPrecondition(f"{rule_name} was deleted; its suggestion cannot be applied",
                                     reason="SWITCHING_RULE_DELETED", metadata={"resource": rule_name})
        return await self._handoffs.start(organization, session_id, suggestion_name, rule)

    def start_applying(self, organization: str, session_id: str, trigger_id: str,
                       rule: SwitchingRule) -> asyncio.Task[str | None] | None:
        """Starts the handoff of a rule that applies itself, while the reading that raised its suggestion is being
        stored: the handoff needs nothing the reading writes, and the suggestion's name, its request id, is known
        before (``rule_suggestion_id``). The task ends with the command's name, or None when the transcript service
        refused (counted; the suggestion stays open for the interviewer). None when the rule does not apply itself."""
        if not rule.auto_apply:
            return None
        suggestion_id = rule_suggestion_id(organization, session_id, trigger_id, rule.resource_name)
        name = f"sessions/{session_id}/suggestions/{suggestion_id}"
        task = asyncio.create_task(self._start_handoff(organization, session_id, name, rule),
                                   name=f"handoff-{session_id}")
        # Nobody awaits it when the reading is not stored (it failed, or a concurrent one won): what it raised is
        # logged.
        task.add_done_callback(_log_failure)
        return task

    async def _start_handoff(self, organization: str, session_id: str, name: str, rule: SwitchingRule) -> str | None:
        try:
            return await self._handoffs.start(organization, session_id, name, rule)
        except DomainError as error:
            AUTO_APPLY_FAILURES.labels(error.reason).inc()
            log.warning("%s could not hand %s over: %s", rule.resource_name, name, error.message)
            return None

    async def auto_apply(self, organization: str, stored: StoredAnalysis, rule: SwitchingRule,
                         applying: asyncio.Task[str | None] | None) -> bool:
        """Marks the rule's suggestion of this stored analysis applied once the handoff ``start_applying`` started
        has its command. True when it was applied."""
        RULES_FIRED.labels(str(rule.auto_apply).lower()).inc()
        command = await applying if applying is not None else None
        if command is None:
            return False
        (suggestion,) = [s for s in stored.suggestions if s.suggestion.switching_rule == rule.resource_name]
        async with self._database.transaction() as uow:
            await resolve_suggestion(uow, organization, suggestion, "applied", command=command)
            await uow.commit()
        return True


def _log_failure(task: asyncio.Task[str | None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("a switching rule's handoff failed: %s", task.exception())
