"""Safety policies through the public API: the defaults a persona starts with (its blueprint's, then its
organization's), updates by field mask and etag, versions and rollback, who may change them, and every bad input
refused with the field named and nothing changed."""

from __future__ import annotations

import grpc
import pytest
import pytest_asyncio
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.persona.v1 import persona_service_pb2_grpc, safety_policy_service_pb2_grpc
from sparring.persona.v1 import safety_policy_service_pb2 as pb

from tests.builders import field_mask, new_persona, uid
from tests.e2e.status_details import Rejection, rejected_in
from tests.security import OTHER_ORGANIZATION, token

DOMAIN = "persona.sparring.dev"


async def rejected(call, code: grpc.StatusCode) -> Rejection:
    return await rejected_in(DOMAIN, call, code)


class Organization:
    """An admin of an organization of its own, whose default no other test sees."""

    def __init__(self, persona_server, connect) -> None:
        self.name = f"org-{uid()}"
        channel = connect(persona_server, token("admin", organization=self.name))
        self.personas = persona_service_pb2_grpc.PersonaServiceStub(channel)
        self.policies = safety_policy_service_pb2_grpc.SafetyPolicyServiceStub(channel)

    @property
    def default_policy(self) -> str:
        return f"organizations/{self.name}/safetyPolicy"


@pytest_asyncio.fixture
async def organization(persona_server, connect) -> Organization:
    """Opened on the running event loop, as every channel must be."""
    return Organization(persona_server, connect)


def policy_stub(persona_server, connect, *roles: str, **identity):
    """The policy service as a caller of ``roles`` (and ``identity``: organization, subject) calls it."""
    return safety_policy_service_pb2_grpc.SafetyPolicyServiceStub(connect(persona_server, token(*roles, **identity)))


async def new_persona_name(personas, **overrides) -> str:
    created = await personas.CreatePersona(persona_pb.CreatePersonaRequest(persona=new_persona(**overrides)))
    return created.persona.name


def policy_of(persona_name: str) -> str:
    return f"{persona_name}/safetyPolicy"


async def get(policies, name: str) -> pb.SafetyPolicy:
    return (await policies.GetSafetyPolicy(pb.GetSafetyPolicyRequest(name=name))).policy


async def update(policies, policy: pb.SafetyPolicy, *paths: str, **request) -> pb.SafetyPolicy:
    return (await policies.UpdateSafetyPolicy(pb.UpdateSafetyPolicyRequest(
        policy=policy, update_mask=field_mask(*paths), **request))).policy


async def revisions(policies, name: str) -> list[int]:
    response = await policies.ListSafetyPolicyVersions(pb.ListSafetyPolicyVersionsRequest(parent=name))
    return [version.revision for version in response.versions]


# --- defaults ----------------------------------------------------------------------------------------------------


async def test_a_persona_starts_with_its_blueprints_defaults(personas, policies):
    sales = policy_of(await new_persona_name(personas))
    hr = policy_of(await new_persona_name(personas, blueprint=persona_pb.BLUEPRINT_HR))

    sales_policy, hr_policy = await get(policies, sales), await get(policies, hr)

    for policy, name in ((sales_policy, sales), (hr_policy, hr)):
        assert policy.name == name
        assert policy.source == pb.SAFETY_POLICY_SOURCE_BLUEPRINT
        assert policy.revision == 0 and policy.etag == '"0"'
        assert {(f.category, f.decision) for f in policy.output_filters} == {
            (pb.FILTER_CATEGORY_SLURS, pb.FILTER_DECISION_BLOCK),
            (pb.FILTER_CATEGORY_THREATS, pb.FILTER_DECISION_BLOCK),
            (pb.FILTER_CATEGORY_DEFAMATION, pb.FILTER_DECISION_FLAG)}
        assert {(r.kind, r.action) for r in policy.pii.rules} >= {(pb.PII_KIND_CARD_NUMBER, pb.PII_ACTION_REDACT)}
    assert [f.category for f in hr_policy.input_filters] == [pb.FILTER_CATEGORY_ILLEGAL_INTERVIEW_QUESTIONS]
    assert list(sales_policy.input_filters) == []
    assert await revisions(policies, sales) == []


async def test_personas_without_a_policy_of_their_own_follow_the_organizations_default(organization):
    follower = policy_of(await new_persona_name(organization.personas))
    own = policy_of(await new_persona_name(organization.personas))
    await update(organization.policies, pb.SafetyPolicy(name=own, risk_threshold=0.1, escalation_threshold=0.2),
                 "risk_threshold", "escalation_threshold")
    assert (await get(organization.policies, organization.default_policy)).source == pb.SAFETY_POLICY_SOURCE_BLUEPRINT

    default = await update(organization.policies, pb.SafetyPolicy(
        name=organization.default_policy, blocked_actions=[pb.SAFETY_ACTION_CURVEBALL], risk_threshold=0.3,
        escalation_threshold=0.9), "blocked_actions", "risk_threshold", "escalation_threshold")

    assert default.source == pb.SAFETY_POLICY_SOURCE_ORGANIZATION and default.revision == 1
    followed = await get(organization.policies, follower)
    assert followed.source == pb.SAFETY_POLICY_SOURCE_ORGANIZATION and followed.revision == 0
    assert list(followed.blocked_actions) == [pb.SAFETY_ACTION_CURVEBALL]
    assert (followed.risk_threshold, followed.escalation_threshold) == (0.3, 0.9)
    kept = await get(organization.policies, own)
    assert kept.source == pb.SAFETY_POLICY_SOURCE_PERSONA and list(kept.blocked_actions) == []
    assert (kept.risk_threshold, kept.escalation_threshold) == (0.1, 0.2)

    # The follower's first policy of its own starts from the default it had.
    written = await update(organization.policies, pb.SafetyPolicy(name=follower, escalation_path=["queues/hr-desk"]),
                           "escalation_path")
    assert written.source == pb.SAFETY_POLICY_SOURCE_PERSONA and written.revision == 1
    assert list(written.blocked_actions) == [pb.SAFETY_ACTION_CURVEBALL]
    assert list(written.escalation_path) == ["queues/hr-desk"]


# --- updates, versions, rollback --------------------------------------------------------------------------------


async def test_an_update_changes_only_the_masked_fields_and_each_change_is_a_version_that_can_be_restored(
        personas, policies):
    name = policy_of(await new_persona_name(personas))
    before = await get(policies, name)
    first = await update(policies, pb.SafetyPolicy(
        name=name, etag=before.etag, approval_actions=[pb.SAFETY_ACTION_HANDOFF],
        rate_limits=pb.RateLimits(actions_per_minute=10, commands_per_turn=2, tokens_per_conversation=50_000),
        risk_threshold=0.9), "approval_actions", "rate_limits")
    assert first.revision == 1 and first.etag == '"1"' and first.HasField("update_time")
    assert list(first.approval_actions) == [pb.SAFETY_ACTION_HANDOFF]
    assert first.rate_limits == pb.RateLimits(actions_per_minute=10, commands_per_turn=2,
                                              tokens_per_conversation=50_000)
    assert first.risk_threshold == before.risk_threshold, "a field outside the mask is left as it was"
    assert list(first.output_filters) == list(before.output_filters)

    second = await update(policies, pb.SafetyPolicy(name=name, etag=first.etag, input_filters=[
        pb.ContentFilter(rule="competitor-names", category=pb.FILTER_CATEGORY_PATTERN,
                         pattern=r"(?i)\b(globex|initech)\b", decision=pb.FILTER_DECISION_FLAG)]), "input_filters")
    assert second.revision == 2 and second.input_filters[0].pattern == r"(?i)\b(globex|initech)\b"

    stale = await rejected(update(policies, pb.SafetyPolicy(name=name, etag=first.etag, risk_threshold=0.2),
                                  "risk_threshold"), grpc.StatusCode.ABORTED)
    assert stale.reason == "ETAG_MISMATCH"

    versions = (await policies.ListSafetyPolicyVersions(pb.ListSafetyPolicyVersionsRequest(parent=name))).versions
    assert [(v.name, v.revision, v.author) for v in versions] == [
        (f"{name}/versions/2", 2, "admin@acme"), (f"{name}/versions/1", 1, "admin@acme")]
    assert versions[1].snapshot == pb.SafetyPolicy(**{**_fields(first), "update_time": versions[1].create_time})

    restored = (await policies.RollbackSafetyPolicy(pb.RollbackSafetyPolicyRequest(
        name=name, version=f"{name}/versions/1", etag=second.etag))).policy
    assert restored.revision == 3 and list(restored.input_filters) == []
    assert restored.rate_limits == first.rate_limits
    versions = (await policies.ListSafetyPolicyVersions(pb.ListSafetyPolicyVersionsRequest(parent=name))).versions
    assert (versions[0].revision, versions[0].restored_revision) == (3, 1)
    assert await get(policies, name) == restored


def _fields(policy: pb.SafetyPolicy) -> dict:
    return {field.name: value for field, value in policy.ListFields() if field.name != "update_time"}


async def test_versions_are_listed_page_by_page(personas, policies):
    name = policy_of(await new_persona_name(personas))
    for threshold in (0.1, 0.2, 0.3):
        await update(policies, pb.SafetyPolicy(name=name, risk_threshold=threshold), "risk_threshold")
    first = await policies.ListSafetyPolicyVersions(pb.ListSafetyPolicyVersionsRequest(parent=name, page_size=2))
    rest = await policies.ListSafetyPolicyVersions(pb.ListSafetyPolicyVersionsRequest(
        parent=name, page_size=2, page_token=first.next_page_token))
    assert [v.revision for v in (*first.versions, *rest.versions)] == [3, 2, 1] and not rest.next_page_token


async def test_a_retried_update_is_answered_once(personas, policies):
    name = policy_of(await new_persona_name(personas))
    request = pb.UpdateSafetyPolicyRequest(policy=pb.SafetyPolicy(name=name, risk_threshold=0.25),
                                           update_mask=field_mask("risk_threshold"), request_id=uid())
    first = (await policies.UpdateSafetyPolicy(request)).policy
    again = (await policies.UpdateSafetyPolicy(request)).policy
    assert again == first and await revisions(policies, name) == [1]


# --- who may change a policy ------------------------------------------------------------------------------------


async def test_only_an_admin_or_an_owner_of_the_persona_changes_its_policy(persona_server, connect, authors,
                                                                            personas, policies):
    owned = policy_of(await new_persona_name(authors))
    not_owned = policy_of(await new_persona_name(personas))
    protected = policy_of(await new_persona_name(personas, protected=True, owners=["author@acme"]))
    author = policy_stub(persona_server, connect, "author")
    change = pb.SafetyPolicy(risk_threshold=0.4)

    assert (await update(author, pb.SafetyPolicy(name=owned, risk_threshold=0.4), "risk_threshold")).revision == 1
    refused = await rejected(update(author, pb.SafetyPolicy(name=not_owned, risk_threshold=0.4), "risk_threshold"),
                             grpc.StatusCode.PERMISSION_DENIED)
    assert refused.reason == "NOT_AN_OWNER"
    for name in (protected, "organizations/acme/safetyPolicy"):
        change.name = name
        refused = await rejected(update(author, change, "risk_threshold"), grpc.StatusCode.PERMISSION_DENIED)
        assert refused.reason == "ADMIN_REQUIRED"
        assert await revisions(policies, name) == []
    assert await revisions(policies, not_owned) == []
    refused = await rejected(author.RollbackSafetyPolicy(pb.RollbackSafetyPolicyRequest(
        name=not_owned, version=f"{not_owned}/versions/1")), grpc.StatusCode.PERMISSION_DENIED)
    assert refused.reason == "NOT_AN_OWNER"


async def test_another_organizations_policies_are_not_found(persona_server, connect, personas, policies):
    name = policy_of(await new_persona_name(personas))
    await update(policies, pb.SafetyPolicy(name=name, risk_threshold=0.3), "risk_threshold")
    stranger = policy_stub(persona_server, connect, "admin", organization=OTHER_ORGANIZATION)

    for call in (stranger.GetSafetyPolicy(pb.GetSafetyPolicyRequest(name=name)),
                 stranger.GetSafetyPolicy(pb.GetSafetyPolicyRequest(name="organizations/acme/safetyPolicy")),
                 stranger.ListSafetyPolicyVersions(pb.ListSafetyPolicyVersionsRequest(parent=name)),
                 update(stranger, pb.SafetyPolicy(name=name, risk_threshold=0.9), "risk_threshold"),
                 stranger.RollbackSafetyPolicy(pb.RollbackSafetyPolicyRequest(name=name,
                                                                              version=f"{name}/versions/1"))):
        assert (await rejected(call, grpc.StatusCode.NOT_FOUND)).reason == "RESOURCE_NOT_FOUND"
    assert (await get(policies, name)).risk_threshold == 0.3 and await revisions(policies, name) == [1]


# --- bad input ----------------------------------------------------------------------------------------------------

BAD_POLICIES = {
    "allowed and blocked": (pb.SafetyPolicy(allowed_actions=[pb.SAFETY_ACTION_CURVEBALL, pb.SAFETY_ACTION_HANDOFF],
                                            blocked_actions=[pb.SAFETY_ACTION_HANDOFF]),
                            ("allowed_actions", "blocked_actions"), "policy.blocked_actions[0]"),
    "unknown action": (pb.SafetyPolicy(blocked_actions=[pb.SAFETY_ACTION_CURVEBALL, 99]), ("blocked_actions",),
                       "policy.blocked_actions[1]"),
    "unspecified action": (pb.SafetyPolicy(approval_actions=[pb.SAFETY_ACTION_UNSPECIFIED]), ("approval_actions",),
                           "policy.approval_actions[0]"),
    "approval of a blocked action": (pb.SafetyPolicy(blocked_actions=[pb.SAFETY_ACTION_END_CALL],
                                                     approval_actions=[pb.SAFETY_ACTION_END_CALL]),
                                     ("blocked_actions", "approval_actions"), "policy.approval_actions[0]"),
    "negative limit": (pb.SafetyPolicy(rate_limits=pb.RateLimits(actions_per_minute=-1)), ("rate_limits",),
                       "policy.rate_limits.actions_per_minute"),
    "absurd limit": (pb.SafetyPolicy(rate_limits=pb.RateLimits(commands_per_turn=100_000)), ("rate_limits",),
                     "policy.rate_limits.commands_per_turn"),
    "absurd token budget": (pb.SafetyPolicy(rate_limits=pb.RateLimits(tokens_per_conversation=2_000_000_000)),
                            ("rate_limits",), "policy.rate_limits.tokens_per_conversation"),
    "threshold above 1": (pb.SafetyPolicy(risk_threshold=1.5, escalation_threshold=1.0),
                          ("risk_threshold", "escalation_threshold"), "policy.risk_threshold"),
    "not-a-number threshold": (pb.SafetyPolicy(risk_threshold=float("nan")), ("risk_threshold",),
                               "policy.risk_threshold"),
    "escalation below risk": (pb.SafetyPolicy(risk_threshold=0.7, escalation_threshold=0.6),
                              ("risk_threshold", "escalation_threshold"), "policy.escalation_threshold"),
    "pattern that does not compile": (pb.SafetyPolicy(output_filters=[pb.ContentFilter(
        rule="broken", category=pb.FILTER_CATEGORY_PATTERN, pattern="(unclosed", decision=pb.FILTER_DECISION_BLOCK)]),
        ("output_filters",), "policy.output_filters[0].pattern"),
    "pattern with a backreference": (pb.SafetyPolicy(input_filters=[pb.ContentFilter(
        rule="repeat", category=pb.FILTER_CATEGORY_PATTERN, pattern=r"(\w+) \1", decision=pb.FILTER_DECISION_FLAG)]),
        ("input_filters",), "policy.input_filters[0].pattern"),
    "pattern with lookahead": (pb.SafetyPolicy(input_filters=[pb.ContentFilter(
        rule="nested", category=pb.FILTER_CATEGORY_PATTERN, pattern=r"^(a+)+(?=b)",
        decision=pb.FILTER_DECISION_FLAG)]), ("input_filters",), "policy.input_filters[0].pattern"),
    "filter rule given twice": (pb.SafetyPolicy(output_filters=[
        pb.ContentFilter(rule="slurs", category=pb.FILTER_CATEGORY_SLURS, decision=pb.FILTER_DECISION_BLOCK),
        pb.ContentFilter(rule="slurs", category=pb.FILTER_CATEGORY_THREATS, decision=pb.FILTER_DECISION_BLOCK)]),
        ("output_filters",), "policy.output_filters[1].rule"),
    "filter without a decision": (pb.SafetyPolicy(output_filters=[
        pb.ContentFilter(rule="slurs", category=pb.FILTER_CATEGORY_SLURS)]), ("output_filters",),
        "policy.output_filters[0].decision"),
    "pii kind given twice": (pb.SafetyPolicy(pii=pb.PiiHandling(default_action=pb.PII_ACTION_MASK, rules=[
        pb.PiiRule(kind=pb.PII_KIND_EMAIL, action=pb.PII_ACTION_KEEP),
        pb.PiiRule(kind=pb.PII_KIND_EMAIL, action=pb.PII_ACTION_HASH)])), ("pii",), "policy.pii.rules[1].kind"),
    "pii without a default": (pb.SafetyPolicy(pii=pb.PiiHandling()), ("pii",), "policy.pii.default_action"),
    "unknown pii action": (pb.SafetyPolicy(pii=pb.PiiHandling(default_action=42)), ("pii",),
                           "policy.pii.default_action"),
    "escalation to nowhere": (pb.SafetyPolicy(escalation_path=["people/bob"]), ("escalation_path",),
                              "policy.escalation_path[0]"),
    "escalation to a missing persona": (pb.SafetyPolicy(escalation_path=["queues/hr", "personas/no-such-persona"]),
                                        ("escalation_path",), "policy.escalation_path[1]"),
    "output-only field in the mask": (pb.SafetyPolicy(revision=7), ("revision",), "update_mask.paths[0]"),
}


@pytest.mark.parametrize("case", BAD_POLICIES)
async def test_a_bad_policy_is_refused_naming_the_field_and_changes_nothing(personas, policies, case):
    bad, paths, field = BAD_POLICIES[case]
    name = policy_of(await new_persona_name(personas))
    before = await update(policies, pb.SafetyPolicy(name=name, risk_threshold=0.2), "risk_threshold")
    bad.name = name

    refusal = await rejected(update(policies, bad, *paths), grpc.StatusCode.INVALID_ARGUMENT)

    assert field in refusal.fields, refusal.violations
    assert await get(policies, name) == before
    assert await revisions(policies, name) == [1]


async def test_a_pattern_that_would_backtrack_elsewhere_is_accepted_since_re2_matches_it_in_linear_time(
        personas, policies):
    name = policy_of(await new_persona_name(personas))
    nested = pb.ContentFilter(rule="nested", category=pb.FILTER_CATEGORY_PATTERN, pattern=r"^(a+)+$",
                              decision=pb.FILTER_DECISION_FLAG)
    written = await update(policies, pb.SafetyPolicy(name=name, input_filters=[nested]), "input_filters")
    assert list(written.input_filters) == [nested]


async def test_an_escalation_path_that_leads_back_round_a_loop_is_refused(personas, policies):
    first, second, third = [await new_persona_name(personas) for _ in range(3)]
    await update(policies, pb.SafetyPolicy(name=policy_of(first), escalation_path=["queues/desk", second]),
                 "escalation_path")
    await update(policies, pb.SafetyPolicy(name=policy_of(second), escalation_path=[third]), "escalation_path")

    refusal = await rejected(update(policies, pb.SafetyPolicy(name=policy_of(third), escalation_path=[first]),
                                    "escalation_path"), grpc.StatusCode.INVALID_ARGUMENT)
    assert refusal.reason == "ESCALATION_LOOP" and refusal.fields == ["policy.escalation_path[0]"]
    assert policy_of(first) in refusal.description_of("policy.escalation_path[0]")
    assert await revisions(policies, policy_of(third)) == []

    itself = await rejected(update(policies, pb.SafetyPolicy(name=policy_of(third), escalation_path=[third]),
                                   "escalation_path"), grpc.StatusCode.INVALID_ARGUMENT)
    assert itself.reason == "ESCALATION_LOOP"


async def test_paths_that_meet_without_a_loop_are_accepted(personas, policies):
    top, left, right, bottom = [await new_persona_name(personas) for _ in range(4)]
    await update(policies, pb.SafetyPolicy(name=policy_of(left), escalation_path=[bottom]), "escalation_path")
    await update(policies, pb.SafetyPolicy(name=policy_of(right), escalation_path=[bottom]), "escalation_path")
    written = await update(policies, pb.SafetyPolicy(name=policy_of(top), escalation_path=[left, right]),
                           "escalation_path")
    assert list(written.escalation_path) == [left, right]


async def test_an_organizations_default_that_escalates_to_a_persona_following_it_is_a_loop(organization):
    follower = await new_persona_name(organization.personas)
    refusal = await rejected(update(organization.policies, pb.SafetyPolicy(
        name=organization.default_policy, escalation_path=[follower]), "escalation_path"),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert refusal.reason == "ESCALATION_LOOP"
    assert (await get(organization.policies, organization.default_policy)).revision == 0


async def test_a_rollback_that_would_close_a_loop_is_refused(personas, policies):
    first, second = [await new_persona_name(personas) for _ in range(2)]
    escalating = await update(policies, pb.SafetyPolicy(name=policy_of(first), escalation_path=[second]),
                              "escalation_path")
    await update(policies, pb.SafetyPolicy(name=policy_of(first), escalation_path=[]), "escalation_path")
    await update(policies, pb.SafetyPolicy(name=policy_of(second), escalation_path=[first]), "escalation_path")

    refusal = await rejected(policies.RollbackSafetyPolicy(pb.RollbackSafetyPolicyRequest(
        name=policy_of(first), version=f"{policy_of(first)}/versions/{escalating.revision}")),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert refusal.reason == "ESCALATION_LOOP"
    assert await revisions(policies, policy_of(first)) == [2, 1]


BAD_NAMES = {
    "a persona's name": lambda persona: persona,
    "no collection": lambda persona: "safetyPolicy",
    "a bad id": lambda persona: "personas/Not An Id/safetyPolicy",
}


@pytest.mark.parametrize("case", BAD_NAMES)
async def test_a_name_that_is_not_a_policys_is_refused(personas, policies, case):
    persona = await new_persona_name(personas)
    refusal = await rejected(policies.GetSafetyPolicy(pb.GetSafetyPolicyRequest(name=BAD_NAMES[case](persona))),
                             grpc.StatusCode.INVALID_ARGUMENT)
    assert refusal.fields == ["name"]


async def test_missing_personas_and_versions_are_not_found(personas, policies):
    name = policy_of(await new_persona_name(personas))
    missing = await rejected(get(policies, "personas/no-such-persona/safetyPolicy"), grpc.StatusCode.NOT_FOUND)
    assert missing.reason == "RESOURCE_NOT_FOUND"
    version = await rejected(policies.RollbackSafetyPolicy(pb.RollbackSafetyPolicyRequest(
        name=name, version=f"{name}/versions/4")), grpc.StatusCode.NOT_FOUND)
    assert version.reason == "VERSION_NOT_FOUND"
    other = policy_of(await new_persona_name(personas))
    mismatch = await rejected(policies.RollbackSafetyPolicy(pb.RollbackSafetyPolicyRequest(
        name=name, version=f"{other}/versions/1")), grpc.StatusCode.INVALID_ARGUMENT)
    assert mismatch.fields == ["version"]
