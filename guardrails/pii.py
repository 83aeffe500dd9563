"""Personal data in an utterance, found by Presidio's pattern recognizers and replaced as a policy says.

No NLP model is needed (the analyzer runs on a no-op NLP engine) and nothing reaches for the network: the email
recognizer checks domains against tldextract's bundled public suffix list, never a downloaded one.

Replacements are deterministic, so an utterance sent again is stored again as the same text (the transcript
recognises a resend by its text): a hash is keyed by the service's secret, a pseudonym also by the session.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass

import tldextract
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, Pattern, PatternRecognizer, RecognizerRegistry
from presidio_analyzer import predefined_recognizers as presidio
from presidio_analyzer.nlp_engine import NoOpNlpEngine
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

from guardrails.pii_policy import PiiAction, PiiHandling, PiiKind

LANGUAGE = "en"
# Below this Presidio's own score, a match is too weak to act on (a bare 9-digit number as a social security
# number scores 0.05 without context words, which a no-op NLP engine cannot give). Chosen on the development set.
MIN_SCORE = 0.3
# Every recognizer below needs a digit (numbers, house numbers, postcodes) or an "@" (emails) to match: text
# with neither holds nothing they could find, and is passed over without running them.
_MAY_HOLD_PII = re.compile(r"[0-9@]")
_DIGIT = re.compile(r"[0-9]")
_IBAN_START = re.compile(r"[A-Za-z]{2} ?[0-9]{2}")


def _may_hold(kind: PiiKind, text: str, digits: int) -> bool:
    """Whether ``text``, with ``digits`` digits in all, could hold a value of ``kind`` at all: each recognizer
    of the kind needs at least that much to match (the shortest phone number the phone library accepts has 5
    digits, a card number 12, a national id 6: a NINO or a codice fiscale; an IBAN starts with its country code
    and check digits), so a text without it is not given to them."""
    if kind == PiiKind.EMAIL:
        return "@" in text
    if kind == PiiKind.IBAN:
        return digits >= 2 and _IBAN_START.search(text) is not None
    return digits >= _LEAST_DIGITS[kind]


_LEAST_DIGITS = {PiiKind.PHONE: 5, PiiKind.CARD_NUMBER: 12, PiiKind.NATIONAL_ID: 6, PiiKind.ADDRESS: 1}
_KEPT_CHARACTERS = 4  # a masked value shows its last four characters, as a card statement does

# Streets as written in English: a house number, one to four capitalised words, a street type.
_STREET = (r"\b\d{1,5}[A-Za-z]?\s+(?:[A-Z][a-z]*\.?\s+){1,4}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|"
           r"Drive|Dr|Way|Court|Ct|Place|Pl|Terrace|Parkway|Pkwy|Square|Sq|Crescent|Close|Highway|Hwy)\b\.?")


class _BundledSuffixEmailRecognizer(presidio.EmailRecognizer):
    """Presidio's email recognizer, checking domains against the public suffix list bundled with tldextract."""

    _domains = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=())

    def validate_result(self, pattern_text: str) -> bool:
        return self._domains(pattern_text).fqdn != ""


def _recognizers() -> dict[PiiKind, list[EntityRecognizer]]:
    """Presidio's recognizers of each kind; for national ids, every personal identity number it knows."""
    national_ids = (presidio.UsSsnRecognizer, presidio.UsItinRecognizer, presidio.UkNinoRecognizer,
                    presidio.NhsRecognizer, presidio.EsNifRecognizer, presidio.EsNieRecognizer,
                    presidio.ItFiscalCodeRecognizer, presidio.InAadhaarRecognizer, presidio.SgFinRecognizer,
                    presidio.FiPersonalIdentityCodeRecognizer, presidio.PlPeselRecognizer,
                    presidio.SePersonnummerRecognizer, presidio.CaSinRecognizer, presidio.KrRrnRecognizer,
                    presidio.TrNationalIdRecognizer, presidio.ZaIdNumberRecognizer, presidio.NgNinRecognizer,
                    presidio.ThTninRecognizer)
    street = PatternRecognizer(supported_entity="STREET_ADDRESS", supported_language=LANGUAGE,
                               patterns=[Pattern("street", _STREET, 0.5)])
    return {
        PiiKind.EMAIL: [_BundledSuffixEmailRecognizer(supported_language=LANGUAGE)],
        PiiKind.PHONE: [presidio.PhoneRecognizer(supported_language=LANGUAGE)],
        PiiKind.CARD_NUMBER: [presidio.CreditCardRecognizer(supported_language=LANGUAGE)],
        PiiKind.IBAN: [presidio.IbanRecognizer(supported_language=LANGUAGE)],
        PiiKind.NATIONAL_ID: [recognizer(supported_language=LANGUAGE) for recognizer in national_ids],
        PiiKind.ADDRESS: [street, presidio.UkPostcodeRecognizer(supported_language=LANGUAGE)],
    }


def may_hold_pii(text: str) -> bool:
    return _MAY_HOLD_PII.search(text) is not None


@dataclass(frozen=True, slots=True)
class PiiFound:
    kind: PiiKind
    start: int
    end: int


class PiiProtector:
    """Finds personal data and replaces it as a policy's handling says; safe to share (it keeps no state)."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        registry = RecognizerRegistry(supported_languages=[LANGUAGE])
        self._kinds: dict[str, PiiKind] = {}
        self._entities: dict[PiiKind, list[str]] = {}
        for kind, recognizers in _recognizers().items():
            for recognizer in recognizers:
                registry.add_recognizer(recognizer)
                self._kinds.update((entity, kind) for entity in recognizer.supported_entities)
                self._entities.setdefault(kind, []).extend(recognizer.supported_entities)
        # Presidio's analyzer as configured here; ``find`` runs it on text that may hold personal data.
        self.analyzer = AnalyzerEngine(registry=registry, supported_languages=[LANGUAGE],
                                        nlp_engine=NoOpNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": ""}]),
                                        default_score_threshold=MIN_SCORE)
        self._anonymizer = AnonymizerEngine()  # type: ignore[no-untyped-call]

    def find(self, text: str) -> list[PiiFound]:
        return [PiiFound(self._kinds[r.entity_type], r.start, r.end) for r in self._analyze(text)]

    def protect(self, text: str, handling: PiiHandling, session: str) -> str:
        """``text`` with each piece of personal data replaced as ``handling`` says; ``session`` keys pseudonyms."""
        return self.handle(text, handling, session)[0]

    def handle(self, text: str, handling: PiiHandling, session: str) -> tuple[str, tuple[PiiKind, ...]]:
        """``text`` protected as ``protect`` does, and the kinds of personal data found in it (in order, once)."""
        if handling.keeps_everything:
            return text, ()
        found = self._analyze(text)
        if not found:
            return text, ()
        operators = {entity: self._operator(kind, handling.action_for(kind), session)
                     for entity, kind in self._kinds.items()}
        kinds = tuple(dict.fromkeys(self._kinds[r.entity_type] for r in found))
        return self._anonymizer.anonymize(text, found, operators).text, kinds

    def _analyze(self, text: str) -> list[RecognizerResult]:
        if not may_hold_pii(text):
            return []
        digits = len(_DIGIT.findall(text))
        entities = [entity for kind, entities in self._entities.items() if _may_hold(kind, text, digits)
                    for entity in entities]
        if not entities:
            return []
        kept: list[RecognizerResult] = []
        # The strongest finding first: one within it (digits of a card read as an id, of an IBAN as a phone
        # number) is part of it, not another value.
        found = self.analyzer.analyze(text, language=LANGUAGE, entities=entities)
        for r in sorted(found, key=lambda r: (-r.score, r.start - r.end)):
            if not any(k.start <= r.start and r.end <= k.end for k in kept):
                kept.append(RecognizerResult(r.entity_type, r.start, r.end, r.score))
        return sorted(kept, key=lambda r: r.start)

    def _operator(self, kind: PiiKind, action: PiiAction, session: str) -> OperatorConfig:
        label = kind.name
        replace: Callable[[str], str]
        if action == PiiAction.KEEP:
            return OperatorConfig("keep")
        if action == PiiAction.REDACT:
            return OperatorConfig("replace", {"new_value": f"<{label}>"})
        if action == PiiAction.MASK:
            replace = _masked
        elif action == PiiAction.HASH:
            def replace(value: str) -> str:
                return f"<{label}:{self._digest(value)[:16]}>"
        else:
            def replace(value: str) -> str:
                return f"{label.title().replace('_', '')}-{self._digest(session, value)[:6]}"
        return OperatorConfig("custom", {"lambda": replace})

    def _digest(self, *parts: str) -> str:
        return hmac.new(self._secret, "\x00".join(parts).encode(), hashlib.sha256).hexdigest()


def _masked(value: str) -> str:
    """Letters and digits hidden but the last few; spaces and punctuation kept, so the shape still reads."""
    shown_from = len(value) - _KEPT_CHARACTERS
    return "".join(c if i >= shown_from or not c.isalnum() else "*" for i, c in enumerate(value))
