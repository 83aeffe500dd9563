"""Personal data found and replaced without a model or the network, the same way every time."""

from __future__ import annotations

import socket

import pytest
import tldextract

from devtools.pii_evaluation import PARTS, load
from guardrails.pii import PiiFound, PiiProtector, may_hold_pii
from guardrails.pii_policy import DEFAULT_PII_HANDLING, PiiAction, PiiHandling, PiiKind, PiiRule

SAID = "Mail tom@globex.com, card 4111 1111 1111 1111, call (415) 555-0198."


@pytest.fixture(scope="module")
def protector() -> PiiProtector:
    return PiiProtector(b"test secret")


def test_emails_are_found_without_reaching_for_the_network(protector, monkeypatch, caplog, tmp_path):
    def refused(*args, **kwargs):
        raise AssertionError("nothing may connect anywhere")

    # tldextract's own extractor, with nothing cached yet, downloads the public suffix list at its first use.
    monkeypatch.setattr(tldextract.tldextract, "TLD_EXTRACTOR", tldextract.TLDExtract(cache_dir=str(tmp_path)))
    monkeypatch.setattr(socket.socket, "connect", refused)
    monkeypatch.setattr(socket, "getaddrinfo", refused)
    assert protector.find("write to tom@globex.co.uk today") == [PiiFound(PiiKind.EMAIL, 9, 25)]
    assert not [record for record in caplog.records if record.levelname in ("WARNING", "ERROR")]


def test_digits_within_a_stronger_finding_are_part_of_it(protector):
    # The card's first twelve digits also read as an id, the IBAN's last ten as a phone number.
    assert [f.kind for f in protector.find("card 5105 1051 0510 5100")] == [PiiKind.CARD_NUMBER]
    assert [f.kind for f in protector.find("IBAN NL91 ABNA 0417 1643 00")] == [PiiKind.IBAN]


def test_a_card_number_that_fails_its_checksum_is_not_one(protector):
    assert protector.find("card 4111 1111 1111 1112") == []


@pytest.mark.parametrize("action, stored", [
    (PiiAction.KEEP, SAID),
    (PiiAction.MASK, "Mail ***@******.com, card **** **** **** 1111, call (***) ***-0198."),
    (PiiAction.REDACT, "Mail <EMAIL>, card <CARD_NUMBER>, call <PHONE>."),
])
def test_each_action_replaces_what_it_says(protector, action, stored):
    assert protector.protect(SAID, PiiHandling(action), "session-1") == stored


def test_a_hash_is_the_same_everywhere_and_a_pseudonym_within_one_session(protector):
    hashed = PiiHandling(PiiAction.HASH)
    pseudonymized = PiiHandling(PiiAction.PSEUDONYMIZE)
    assert protector.protect(SAID, hashed, "a") == protector.protect(SAID, hashed, "b")
    assert "tom@globex.com" not in protector.protect(SAID, hashed, "a")
    in_a = protector.protect(SAID, pseudonymized, "a")
    assert in_a == protector.protect(SAID, pseudonymized, "a") != protector.protect(SAID, pseudonymized, "b")
    assert PiiProtector(b"another secret").protect(SAID, hashed, "a") != protector.protect(SAID, hashed, "a")


def test_rules_per_kind_come_before_the_default(protector):
    handling = PiiHandling(PiiAction.KEEP, (PiiRule(PiiKind.CARD_NUMBER, PiiAction.REDACT),))
    assert protector.protect(SAID, handling, "s") == SAID.replace("4111 1111 1111 1111", "<CARD_NUMBER>")
    assert DEFAULT_PII_HANDLING.action_for(PiiKind.IBAN) == PiiAction.REDACT


@pytest.mark.parametrize("file_name", [file_name for _, file_name in PARTS])
def test_the_pre_filter_passes_over_no_utterance_the_recognizers_would_find_something_in(protector, file_name):
    for utterance in load(file_name):
        if not may_hold_pii(utterance.text):
            assert protector.analyzer.analyze(utterance.text, language="en") == [], utterance.text


def _found_as(said: str, kind: PiiKind | None, value: str) -> list[PiiFound]:
    """What finding ``value`` of ``kind`` in ``said`` is; nothing when ``kind`` is None."""
    start = said.index(value)
    return [PiiFound(kind, start, start + len(value))] if kind else []


@pytest.mark.parametrize(("said", "kind", "value"), [
    ("write to ana dot silva at fabrikam dot com.", PiiKind.EMAIL, "ana dot silva at fabrikam dot com"),
    ("mail me: bo (at) tailspin (dot) io", PiiKind.EMAIL, "bo (at) tailspin (dot) io"),
    ("it's four one five, five five five, zero one three two", PiiKind.PHONE,
     "four one five, five five five, zero one three two"),
    ("the card is five one zero five, one zero five one, zero five one zero, five one double oh", PiiKind.CARD_NUMBER,
     "five one zero five, one zero five one, zero five one zero, five one double oh"),
    # "at", "dot" and number words that are not personal data
    ("we met at acme.com last year", None, "acme.com"),
    ("be there at ten dot thirty", None, "ten dot thirty"),
    ("one, two, three, four people", None, "one, two, three, four"),
])
def test_numbers_and_emails_said_aloud_are_found_as_the_words_said(protector, said, kind, value):
    assert protector.find(said) == _found_as(said, kind, value)
    assert (value in protector.protect(said, PiiHandling(PiiAction.REDACT), "s")) is (kind is None)


@pytest.mark.parametrize(("said", "kind", "value"), [
    ("Mastercard 2720 9999 9999 9996 please", PiiKind.CARD_NUMBER, "2720 9999 9999 9996"),
    ("my SSN is 341620875", PiiKind.NATIONAL_ID, "341620875"),
    ("order 341620875 shipped", None, "341620875"),  # the same digits without a word naming an id
    ("passport number X1234567, French", PiiKind.NATIONAL_ID, "X1234567"),
    ("the post code is W1A 1AA", PiiKind.ADDRESS, "W1A 1AA"),
    ("Come to Leeds LS1 4DY", PiiKind.ADDRESS, "LS1 4DY"),
    ("Zip code 30301, Atlanta", PiiKind.ADDRESS, "30301"),
    ("Lindenstraße 12 is the office", PiiKind.ADDRESS, "Lindenstraße 12"),
    ("Am Markt 3, 28195 Bremen", PiiKind.ADDRESS, "Am Markt 3, 28195 Bremen"),
])
def test_values_that_their_context_or_their_country_tells_apart_are_found(protector, said, kind, value):
    assert protector.find(said) == _found_as(said, kind, value)
