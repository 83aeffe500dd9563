"""Use cases of safety policies: the policy in force for a persona or an organization, updates, versions and
rollbacks.

A persona without a policy of its own runs under its organization's default, and without one under its
blueprint's defaults; the first update writes the persona's own policy, starting from the one it had."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from persona_svc.domain.model import Persona
from persona_svc.domain.safety import (
    PolicySource,
    SafetyPolicy,
    SafetyPolicyFields,
    SafetyPolicyVersion,
    default_policy,
    escalation_personas,
    validate_policy,
)
from persona_svc.service_layer.ownership import require_right_to_change
from persona_svc.service_layer.safety_ports import SafetyPolicyUnitOfWork, SafetyPolicyUnitOfWorkFactory
from svckit.errors import EtagMismatch, FieldViolation, InvalidArgument, NotFound, Violations
from svckit.pagination import PageTokens, page_size
from svckit.usecase import Mutation, Page, run_idempotent

ORGANIZATION_DEFAULT = ""  # the persona id under which an organization's default is kept
# A change to a locked policy: its new fields and the revision it restores (0 if none).
PolicyChange = Callable[[SafetyPolicyUnitOfWork, SafetyPolicy], Awaitable[tuple[SafetyPolicyFields, int]]]
# How many policies an escalation path is followed through before it counts as a loop of its own: far more
# than any real chain of hand-overs, few enough to be read in one request.
MAX_ESCALATION_WALK = 100


def policy_name(organization: str, persona_id: str) -> str:
    return (f"personas/{persona_id}/safetyPolicy" if persona_id != ORGANIZATION_DEFAULT
            else f"organizations/{organization}/safetyPolicy")


class SafetyPolicies:
    def __init__(self, writes: SafetyPolicyUnitOfWorkFactory, reads: SafetyPolicyUnitOfWorkFactory,
                 page_tokens: PageTokens) -> None:
        self._transaction = writes
        self._read = reads
        self._tokens = page_tokens

    async def get(self, organization: str, persona_id: str) -> SafetyPolicy:
        """The policy in force for ``persona_id`` (ORGANIZATION_DEFAULT: the organization's default)."""
        async with self._read(organization) as uow:
            persona = await self._persona(uow, persona_id, for_update=False)
            return await self._in_force(uow, persona_id, persona, for_update=False)

    async def update(self, organization: str, persona_id: str, incoming: SafetyPolicyFields, mask: frozenset[str],
                     etag: str, mutation: Mutation) -> SafetyPolicy:
        async def change(uow: SafetyPolicyUnitOfWork, current: SafetyPolicy) -> tuple[SafetyPolicyFields, int]:
            return dataclasses.replace(current.fields, **{name: getattr(incoming, name) for name in mask}), 0

        return await self._write(organization, persona_id, etag, mutation, "UpdateSafetyPolicy", change)

    async def rollback(self, organization: str, persona_id: str, revision: int, etag: str,
                       mutation: Mutation) -> SafetyPolicy:
        async def change(uow: SafetyPolicyUnitOfWork, current: SafetyPolicy) -> tuple[SafetyPolicyFields, int]:
            target = await uow.policies.get_version(persona_id, revision)
            if target is None:
                raise NotFound(f"{policy_name(organization, persona_id)}/versions/{revision}",
                               reason="VERSION_NOT_FOUND")
            return target.fields, revision

        return await self._write(organization, persona_id, etag, mutation, "RollbackSafetyPolicy", change)

    async def list_versions(self, organization: str, persona_id: str, requested_size: int,
                            token: str) -> Page[SafetyPolicyVersion]:
        size = page_size(requested_size)
        filters = {"parent": policy_name(organization, persona_id)}
        before = self._tokens.decode(token, filters)
        async with self._read(organization) as uow:
            await self._persona(uow, persona_id, for_update=False)
            items = await uow.policies.list_versions(persona_id, before, size + 1)
        return Page(*self._tokens.page(items, size, lambda v: v.revision, filters))

    async def _write(self, organization: str, persona_id: str, etag: str, mutation: Mutation, method: str,
                     change: PolicyChange) -> SafetyPolicy:
        """Locks the policy (its persona, while it has none of its own), applies ``change``, checks the result and
        writes it as the next version."""
        name = policy_name(organization, persona_id)

        async def run() -> SafetyPolicy:
            persona = await self._persona(uow, persona_id, for_update=True)
            require_right_to_change(mutation.caller, persona, "changing", name)
            current = await self._in_force(uow, persona_id, persona, for_update=True)
            if etag and etag != current.etag:
                raise EtagMismatch(name, etag, current.etag)
            fields, restored = await change(uow, current)
            violations = Violations()
            validate_policy(fields, violations)
            violations.raise_if_any()
            await self._check_escalation(uow, organization, persona_id, fields)
            written = current.revision if current.source == _own_source(persona_id) else 0
            policy = SafetyPolicy(persona_id=persona_id, fields=fields, source=_own_source(persona_id),
                                  revision=written + 1, update_time=datetime.now(UTC))
            await uow.policies.save(policy, restored, mutation.caller.actor)
            return policy

        async with self._transaction(organization) as uow:
            policy = await run_idempotent(uow.requests, mutation, method, run, SafetyPolicy)
            await uow.commit()
        return policy

    @staticmethod
    async def _persona(uow: SafetyPolicyUnitOfWork, persona_id: str, *, for_update: bool) -> Persona | None:
        if persona_id == ORGANIZATION_DEFAULT:
            return None
        persona = await uow.personas.get(persona_id, for_update=for_update)
        if persona is None:
            raise NotFound(f"personas/{persona_id}")
        return persona

    @staticmethod
    async def _in_force(uow: SafetyPolicyUnitOfWork, persona_id: str, persona: Persona | None, *,
                        for_update: bool) -> SafetyPolicy:
        own = await uow.policies.get(persona_id, for_update=for_update)
        if own is not None:
            return own
        if persona_id != ORGANIZATION_DEFAULT:
            organization_default = await uow.policies.get(ORGANIZATION_DEFAULT)
            if organization_default is not None:
                return SafetyPolicy(persona_id, organization_default.fields, PolicySource.ORGANIZATION)
        blueprint = persona.fields.blueprint if persona is not None else None
        return SafetyPolicy(persona_id, default_policy(blueprint), PolicySource.BLUEPRINT)

    async def _check_escalation(self, uow: SafetyPolicyUnitOfWork, organization: str, persona_id: str,
                                fields: SafetyPolicyFields) -> None:
        """Every persona of the path exists, and following the paths of the personas it names (with ``fields`` in
        place of the policy being written) never comes back to a persona already on the way."""
        violations = Violations()
        for index, target in escalation_personas(fields.escalation_path):
            if await uow.personas.get(target) is None:
                violations.add(f"policy.escalation_path[{index}]", f"personas/{target} does not exist")
        violations.raise_if_any()

        stored_default = (await uow.policies.get(ORGANIZATION_DEFAULT)) if persona_id != ORGANIZATION_DEFAULT else None
        default_path = fields.escalation_path if persona_id == ORGANIZATION_DEFAULT else (
            stored_default.fields.escalation_path if stored_default is not None else ())

        async def path_of(target: str) -> tuple[str, ...]:
            if target == persona_id:
                return fields.escalation_path
            own = await uow.policies.get(target)
            return own.fields.escalation_path if own is not None else default_path

        finished: set[str] = set()
        for index, first in escalation_personas(fields.escalation_path):
            way = [persona_id] if persona_id != ORGANIZATION_DEFAULT else []
            loop = await _loop_from(first, path_of, way, finished)
            if loop:
                raise InvalidArgument(FieldViolation(
                    f"policy.escalation_path[{index}]",
                    "leads back round a loop: " + " -> ".join(policy_name(organization, p) for p in loop)),
                    reason="ESCALATION_LOOP")


async def _loop_from(persona: str, path_of: Callable[[str], Awaitable[tuple[str, ...]]], way: list[str],
                     finished: set[str]) -> list[str]:
    """The personas of a loop met following escalation paths depth first from ``persona``, reached by ``way``;
    empty if there is none. ``finished``: personas whose paths are known to hold no loop."""
    if persona in way:
        return [*way[way.index(persona):], persona]
    if persona in finished:
        return []
    if len(way) + len(finished) >= MAX_ESCALATION_WALK:
        raise InvalidArgument(FieldViolation("policy.escalation_path",
                                             f"hands over through more than {MAX_ESCALATION_WALK} personas"),
                              reason="ESCALATION_TOO_LONG")
    for _, target in escalation_personas(await path_of(persona)):
        loop = await _loop_from(target, path_of, [*way, persona], finished)
        if loop:
            return loop
    finished.add(persona)
    return []


def _own_source(persona_id: str) -> PolicySource:
    return PolicySource.ORGANIZATION if persona_id == ORGANIZATION_DEFAULT else PolicySource.PERSONA
