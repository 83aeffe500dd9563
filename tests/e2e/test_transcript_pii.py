"""Personal data streamed through the public API is stored as the persona's safety policy says, and the original
is found nowhere in the database unless the policy keeps it."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator

import grpc
import pytest_asyncio
import sqlalchemy as sa
from sparring.persona.v1 import safety_policy_service_pb2 as policy_pb
from sparring.transcript.v1 import transcript_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from devtools.gateway import Gateway, utterance_frame
from guardrails.policy import SAFE_DEFAULT
from tests.builders import uid
from tests.e2e.transcript_fixtures import new_session, persona_under, streamed_call
from tests.probes import metric
from tests.security import secure_channel, security

SCHEMAS = ("persona", "transcript", "analysis", "learning")


def card_number() -> str:
    """A Visa number of its own that passes the Luhn checksum, in four groups."""
    digits = [4, *(random.randrange(10) for _ in range(14))]
    total = sum(d if i % 2 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(reversed(digits)))
    digits.append((10 - total % 10) % 10)
    return " ".join("".join(map(str, digits[i:i + 4])) for i in range(0, 16, 4))


def iban() -> str:
    """A British IBAN of its own with valid check digits, in groups of four."""
    bank = f"WEST{random.randrange(10**14):014d}"
    rearranged = "".join(str(int(c, 36)) for c in bank + "GB00")
    account = f"GB{98 - int(rearranged) % 97:02d}{bank}"
    return " ".join(account[i:i + 4] for i in range(0, len(account), 4))


class Said:
    """Personal data of its own, so no other test's rows can hold it, and a call that says it."""

    def __init__(self) -> None:
        self.email = f"dana.{uid()}@globex.com"
        self.card = card_number()
        self.iban = iban()
        self.phone = f"(415) 555-{random.randrange(100, 200):04d}"
        self.ssn = f"{random.randrange(100, 600)}-{random.randrange(10, 99)}-{random.randrange(1000, 9999)}"
        self.address = f"{random.randrange(100, 9999)} Evergreen Terrace"

    @property
    def originals(self) -> list[str]:
        return [self.email, self.card, self.iban, self.phone, self.ssn, self.address]

    @property
    def turns(self) -> list[tuple[int, str]]:
        return [
            (pb.ROLE_USER, f"Sure, email me at {self.email} and I will forward it."),
            (pb.ROLE_USER, f"The customer's card is {self.card}, expiry next March."),
            (pb.ROLE_ASSISTANT, f"Fine, wire the deposit to {self.iban} then."),
            (pb.ROLE_USER, f"Call my colleague on {self.phone}; his SSN is {self.ssn}, do not ask."),
            (pb.ROLE_USER, f"We ship to {self.address} every month. Call {self.phone} again if not."),
        ]


async def holders(engine, originals: list[str]) -> list[str]:
    """Every column, of every service's tables, holding one of ``originals``: as schema.table.column."""
    async with engine.connect() as connection:
        columns = (await connection.execute(sa.text(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = ANY(:schemas) AND data_type IN ('text', 'character varying', 'jsonb', 'json',"
            " 'ARRAY', 'bytea')"), {"schemas": list(SCHEMAS)})).all()
        found = []
        for schema, table, column in columns:
            holding = await connection.scalar(sa.text(
                f'SELECT count(*) FROM "{schema}"."{table}" WHERE "{column}"::text LIKE ANY(:patterns)'),
                {"patterns": [f"%{original}%" for original in originals]})
            if holding:
                found.append(f"{schema}.{table}.{column}")
    return found


async def stored_texts(transcripts, session: str) -> list[str]:
    listed = await transcripts.ListMessages(pb.ListMessagesRequest(parent=session, page_size=100))
    return [message.text for message in listed.messages]


async def persona_with_pii(personas, policies, handling: policy_pb.PiiHandling) -> str:
    return await persona_under(personas, policies, policy_pb.SafetyPolicy(pii=handling), "pii")


async def test_the_default_policy_stores_no_payment_or_identity_number_and_masks_the_rest(transcripts, engine):
    said = Said()
    session = await streamed_call(transcripts, said.turns)

    texts = await stored_texts(transcripts, session)

    hidden_name = re.sub(r"[a-z0-9]", "*", said.email.split("@")[0])
    assert texts[0] == f"Sure, email me at {hidden_name}@******.com and I will forward it."
    assert texts[1] == "The customer's card is <CARD_NUMBER>, expiry next March."
    assert texts[2] == "Fine, wire the deposit to <IBAN> then."
    assert texts[3] == f"Call my colleague on (***) ***-{said.phone[-4:]}; his SSN is <NATIONAL_ID>, do not ask."
    assert texts[4] == f"We ship to {'*' * len(said.address.split()[0])} ********* ***race every month. " \
                       f"Call (***) ***-{said.phone[-4:]} again if not."
    assert await holders(engine, said.originals) == []


async def test_an_utterance_sent_again_is_stored_once_as_the_same_protected_text(transcripts, engine):
    said = Said()
    session = await new_session(transcripts)
    first = Gateway(transcripts, session.name)
    await first.read()
    first.send(utterance_frame(1, pb.ROLE_USER, said.turns[1][1]))
    assert [a.duplicate for a in await first.acks_until(1)] == [False]
    first.close()
    await first.call.code()

    again = Gateway(transcripts, session.name)
    await again.read()
    again.send(utterance_frame(1, pb.ROLE_USER, said.turns[1][1]))
    assert [a.duplicate for a in await again.acks_until(1)] == [True]
    again.close()
    await again.call.code()
    assert await stored_texts(transcripts, session.name) == ["The customer's card is <CARD_NUMBER>, expiry next March."]
    assert await holders(engine, [said.card]) == []


async def test_each_kind_is_kept_hashed_or_replaced_by_a_pseudonym_stable_within_its_session_as_the_policy_says(
        transcripts, personas, policies, engine):
    persona = await persona_with_pii(personas, policies, policy_pb.PiiHandling(
        default_action=policy_pb.PII_ACTION_REDACT, rules=[
            policy_pb.PiiRule(kind=policy_pb.PII_KIND_EMAIL, action=policy_pb.PII_ACTION_HASH),
            policy_pb.PiiRule(kind=policy_pb.PII_KIND_PHONE, action=policy_pb.PII_ACTION_PSEUDONYMIZE),
            policy_pb.PiiRule(kind=policy_pb.PII_KIND_ADDRESS, action=policy_pb.PII_ACTION_KEEP)]))
    said = Said()

    first = await stored_texts(transcripts, await streamed_call(transcripts, said.turns, persona=persona))
    second = await stored_texts(transcripts, await streamed_call(transcripts, said.turns, persona=persona))

    email_hash = re.search(r"<EMAIL:[0-9a-f]{16}>", first[0])
    assert email_hash and first[0] == f"Sure, email me at {email_hash.group()} and I will forward it."
    assert second[0] == first[0], "a hash is the same in every session"
    assert first[1] == "The customer's card is <CARD_NUMBER>, expiry next March."
    pseudonyms = [re.findall(r"Phone-[0-9a-f]{6}", texts[3] + texts[4]) for texts in (first, second)]
    assert len(pseudonyms[0]) == 2 and pseudonyms[0][0] == pseudonyms[0][1], "stable within a session"
    assert pseudonyms[1][0] != pseudonyms[0][0], "and another in another session"
    assert first[4].startswith(f"We ship to {said.address} every month."), "kept as the policy says"
    assert await holders(engine, [said.email, said.card, said.iban, said.phone, said.ssn]) == []


async def test_a_policy_that_keeps_personal_data_stores_the_utterances_as_said(transcripts, personas, policies):
    persona = await persona_with_pii(personas, policies,
                                     policy_pb.PiiHandling(default_action=policy_pb.PII_ACTION_KEEP))
    said = Said()
    session = await streamed_call(transcripts, said.turns, persona=persona)
    assert await stored_texts(transcripts, session) == [text for _, text in said.turns]


# --- a persona service too slow to say the policy ----------------------------------------------------------------


@pytest_asyncio.fixture
async def stalled_policies(persona_server) -> AsyncIterator[str]:
    """A persona service that answers GetPersona as the real one does but never GetSafetyPolicy."""
    from svckit.server import GrpcApp

    released = asyncio.Event()
    async with secure_channel(persona_server) as channel:
        real = channel.unary_unary("/sparring.persona.v1.PersonaService/GetPersona")

        async def get_persona(request: bytes, context) -> bytes:
            return await real(request)

        async def never(request: bytes, context) -> bytes:
            await released.wait()
            raise AssertionError("the stream should not have waited for this")

        handlers = [
            grpc.method_handlers_generic_handler("sparring.persona.v1.PersonaService", {
                "GetPersona": grpc.unary_unary_rpc_method_handler(get_persona)}),
            grpc.method_handlers_generic_handler("sparring.persona.v1.SafetyPolicyService", {
                "GetSafetyPolicy": grpc.unary_unary_rpc_method_handler(never)}),
        ]
        app = GrpcApp(service_names=["sparring.persona.v1.PersonaService"], error_domain="test.sparring.dev",
                      add_servicers=lambda server: server.add_generic_rpc_handlers(handlers), security=security())
        await app.start()
        yield app.address
        released.set()
        await app.stop(grace=1)


async def test_when_the_persona_service_does_not_say_the_policy_in_time_the_safe_default_applies(
        engine, transcript_schema, transcript_settings, personas, policies, stalled_policies):
    from transcript_svc.app import build

    keeping = await persona_with_pii(personas, policies,
                                     policy_pb.PiiHandling(default_action=policy_pb.PII_ACTION_KEEP))
    app = await build(transcript_settings(persona_address=stalled_policies, safety_policy_timeout_seconds=0.1),
                      engine)
    await app.start()
    timeouts = metric("sparring_safety_policy_reads_total", result="timeout")
    try:
        async with secure_channel(app.address) as channel:
            stub = transcript_service_pb2_grpc.TranscriptServiceStub(channel)
            said = Said()
            threat = f"Ask about order {uid()} again and I will hurt you."
            session = await streamed_call(stub, [*said.turns, (pb.ROLE_ASSISTANT, threat)], persona=keeping)
            texts = await stored_texts(stub, session)
    finally:
        await app.stop(grace=1)
    assert texts[1] == "The customer's card is <CARD_NUMBER>, expiry next March."
    assert texts[-1] == "[removed by the threats filter]", "the persona's turns screened as by default"
    assert metric("sparring_safety_policy_reads_total", result="timeout") == timeouts + 1
    assert await holders(engine, [said.card, said.iban, said.ssn, said.email]) == []


async def test_callers_wanting_a_policy_not_read_yet_at_once_share_one_read(transcript_settings, stalled_policies):
    from access.permissions import PERMISSIONS
    from service_clients.safety_policies import SafetyPolicyReader
    from svckit.transport import Security

    reader = SafetyPolicyReader(Security(transcript_settings(), PERMISSIONS).link(stalled_policies), 0.1, 5.0, 10)
    timeouts = metric("sparring_safety_policy_reads_total", result="timeout")
    try:
        persona = f"personas/{uid()}"
        policies = await asyncio.gather(*(reader.in_force("org", persona) for _ in range(5)))
    finally:
        await reader.close()
    assert {policy.name for policy in policies} == {SAFE_DEFAULT.name}
    assert metric("sparring_safety_policy_reads_total", result="timeout") == timeouts + 1
