"""Personal data in an utterance, found by Presidio's pattern recognizers and replaced as a policy says.

No NLP model is needed (the analyzer runs on a no-op NLP engine) and nothing reaches for the network: the email
recognizer checks domains against tldextract's bundled public suffix list, never a downloaded one.

Numbers and emails said aloud ("four one five ...", "m dot rossi at contoso dot it") are written out before the
recognizers run, and what they find is mapped back onto the words said. Without an NLP engine Presidio cannot see
context words, so the ids and postcodes that only their context tells apart (a bare 9-digit social security number,
a passport number, a lone postcode) have recognizers of their own that match the context word with the value.

Replacements are deterministic, so an utterance sent again is stored again as the same text (the transcript
recognises a resend by its text): a hash is keyed by the service's secret, a pseudonym also by the session.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import re2
import tldextract
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, Pattern, PatternRecognizer, RecognizerRegistry
from presidio_analyzer import RecognizerResult as Recognized
from presidio_analyzer import predefined_recognizers as presidio
from presidio_analyzer.nlp_engine import NoOpNlpEngine
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

from guardrails.pii_policy import PiiAction, PiiHandling, PiiKind

LANGUAGE = "en"
# Below this Presidio's own score, a match is too weak to act on (a bare 9-digit number as a social security
# number scores 0.05 without context words, which a no-op NLP engine cannot give). Chosen on the development set.
MIN_SCORE = 0.3
# Numbers said digit by digit: "oh seven seven double oh nine ...". Four such words at least (a phone number has
# five digits or more), so "one or two" or "at three thirty" are not numbers.
_SPOKEN_DIGIT = r"(?:(?:double|triple)[ ]+)?(?:zero|oh|nought|one|two|three|four|five|six|seven|eight|nine)"
_SPOKEN_NUMBER = re2.compile(rf"(?i:\b{_SPOKEN_DIGIT}(?:[ ,-]+{_SPOKEN_DIGIT}){{3,}}\b)")
_DIGIT_VALUES = {"zero": "0", "oh": "0", "nought": "0", "one": "1", "two": "2", "three": "3", "four": "4",
                 "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9"}
_SPOKEN_WORD = re2.compile(r"(?i)(double|triple)?[ ]*(zero|oh|nought|one|two|three|four|five|six|seven|eight|nine)"
                           r"([ ,-]*)")
# Emails said aloud or disguised: "at" and "dot" as words or in brackets, "underscore", "dash".
_SAID_AT = r"(?:[ ]+at[ ]+|[ ]*[(\[<{][ ]*at[ ]*[)\]>}][ ]*)"
_SAID_DOT = r"(?:[ ]+dot[ ]+|[ ]*[(\[<{][ ]*dot[ ]*[)\]>}][ ]*)"
_SAID_JOIN = rf"(?:{_SAID_DOT}|[ ]+(?:underscore|dash|hyphen)[ ]+|\.)"
_EMAIL_WORD = r"[a-z0-9][a-z0-9_%+'-]*"
_SPOKEN_EMAIL = re2.compile(rf"(?i)\b{_EMAIL_WORD}(?:{_SAID_JOIN}{_EMAIL_WORD})*{_SAID_AT}{_EMAIL_WORD}"
                            rf"(?:(?:{_SAID_DOT}|\.){_EMAIL_WORD})+\b")
_SAID_SEPARATOR = re2.compile(rf"(?i){_SAID_AT}|{_SAID_DOT}|[ ]+(?:underscore|dash|hyphen)[ ]+")
_WRITTEN = {"at": "@", "dot": ".", "underscore": "_", "dash": "-", "hyphen": "-"}
# Every recognizer below needs a digit (numbers, house numbers, postcodes) or an "@" (emails) to match, once what
# was said aloud is written out: text with none of them, nor a number or an email said aloud, holds nothing they
# could find, and is passed over without running them.
_MAY_HOLD_PII = re2.compile(rf"[0-9@]|(?i:\bdot\b|[(\[<{{][ ]*at[ ]*[)\]>}}])|{_SPOKEN_NUMBER.pattern}")
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


# Streets as written on the continent: a street type and its name before the number (Hauptstraße 5, Calle Mayor 10,
# Via Roma 3), or the number before the type (12 rue de la Paix), or a street of any name followed by its number,
# a postcode and a town (Unter den Linden 77, 10117 Berlin).
_WORD = r"[^\s,;:!?]+"
_NAME = r"\p{Lu}[^\s,;:!?]*"
_CONTINENTAL_STREET = re2.compile(
    rf"\b(?:{_NAME}(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer|straat|laan|gracht|plein|kade|vej|"
    rf"gatan|gata|veien)|(?:Calle|Avenida|Plaza|Paseo|Carrer|Rua|Via|Viale|Piazza|Corso|Largo)(?:\s+{_WORD}){{1,4}}?)"
    r"\s+\d{1,4}[a-z]?\b"
    r"|\b\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|boulevard|bd|place|quai|chemin|allée|impasse|cours)"
    rf"(?:\s+{_WORD}){{0,3}}?\s+{_NAME}"
    rf"|\b{_NAME}(?:\s+{_WORD}){{0,3}}\s+\d{{1,4}}[a-z]?,?\s+\d{{4,5}}\s+{_NAME}")
# Card numbers by their networks' first digits (Presidio's own pattern, and Mastercard's 2221-2720 series);
# the Luhn checksum decides.
_CARD = (r"\b(?!1\d{12}(?!\d))((4\d{3})|(5[0-5]\d{2})|(2[2-7]\d{2})|(6\d{3})|(1\d{3})|(3\d{3}))[- ]?(\d{3,4})"
         r"[- ]?(\d{3,4})[- ]?(\d{3,5})\b")
_UK_POSTCODE = (r"(?:[A-PR-UWYZ][0-9][ABCDEFGHJKPSTUW]?|[A-PR-UWYZ][0-9]{2}|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY]?|"
                r"[A-PR-UWYZ][A-HK-Y][0-9]{2}) ?[0-9][ABD-HJLNP-UW-Z]{2}")
# An identity number after the word that names it ("passport C03005988", "SSN is 287541123", "my social is ...").
_ID_IN_CONTEXT = re2.compile(
    r"(?i:\b(?:passport|ssn|social security|social insurance|social|national (?:insurance|id|identity)|identity card|"
    r"id card|id number|tax (?:id|number|file number)|tin|itin|bsn|pan|sin|personal (?:id|number)|"
    r"driv\w*'?s? licen[cs]e)(?:\s+(?:card|number|no\.?|num|nr|#))?(?:\s+(?:is|was|reads))?)[\s:,#]*"
    r"([A-Z0-9]*[0-9][A-Z0-9]*(?:[ -][A-Z0-9]*[0-9][A-Z0-9]*){0,3})\b")
# A postcode after the word that names it, or after a town or a state ("Bristol BS8 1TH", "NY 10118").
_POSTCODE_IN_CONTEXT = re2.compile(
    rf"(?i:\b(?:post ?code|postal code|zip(?: code)?)(?:'s|\s+is|\s+was)?)[\s:,]*({_UK_POSTCODE}|\d{{5}}(?:-\d{{4}})?|"
    r"[A-Z]\d[A-Z] ?\d[A-Z]\d|\d{4}(?: ?[A-Z]{2})?)\b"
    rf"|\b[A-Z][a-z]+,?\s+({_UK_POSTCODE})\b|,\s*[A-Z]{{2}}\s+(\d{{5}}(?:-\d{{4}})?)\b")


class _Re2Recognizer(EntityRecognizer):
    """What an RE2 pattern finds (in time linear in the text, faster than Presidio's own patterns): the first of its
    groups that took part, or the whole match. With a group, the pattern matches the words said before a value
    with the value, as Presidio's context words would if it had an NLP engine."""

    def __init__(self, entity: str, pattern: Any, least_characters: int, score: float) -> None:
        super().__init__(supported_entities=[entity], supported_language=LANGUAGE)
        self._pattern = pattern
        self._least_characters = least_characters
        self._score = score

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: object = None) -> list[Recognized]:
        found = []
        for match in self._pattern.finditer(text):
            group = next((i for i in range(1, len(match.groups()) + 1) if match.start(i) >= 0), 0)
            if sum(c.isalnum() for c in match.group(group)) >= self._least_characters:
                found.append(Recognized(self.supported_entities[0], match.start(group), match.end(group),
                                        self._score))
        return found


class _BundledSuffixEmailRecognizer(presidio.EmailRecognizer):
    """Presidio's email recognizer, checking domains against the public suffix list bundled with tldextract."""

    _domains = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=())

    def validate_result(self, pattern_text: str) -> bool:
        return self.valid_domain(pattern_text)

    @classmethod
    def valid_domain(cls, address: str) -> bool:
        return cls._domains(address).fqdn != ""


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
    cards = presidio.CreditCardRecognizer(supported_language=LANGUAGE, patterns=[Pattern("card", _CARD, 0.3)])
    return {
        PiiKind.EMAIL: [_BundledSuffixEmailRecognizer(supported_language=LANGUAGE)],
        PiiKind.PHONE: [presidio.PhoneRecognizer(supported_language=LANGUAGE)],
        PiiKind.CARD_NUMBER: [cards],
        PiiKind.IBAN: [presidio.IbanRecognizer(supported_language=LANGUAGE)],
        PiiKind.NATIONAL_ID: [*(recognizer(supported_language=LANGUAGE) for recognizer in national_ids),
                              _Re2Recognizer("ID_IN_CONTEXT", _ID_IN_CONTEXT, 6, 0.6)],
        PiiKind.ADDRESS: [street, _Re2Recognizer("CONTINENTAL_STREET", _CONTINENTAL_STREET, 1, 0.5),
                          presidio.UkPostcodeRecognizer(supported_language=LANGUAGE),
                          _Re2Recognizer("POSTCODE_IN_CONTEXT", _POSTCODE_IN_CONTEXT, 4, 0.6)],
    }


def may_hold_pii(text: str) -> bool:
    return _MAY_HOLD_PII.search(text) is not None


@dataclass(frozen=True, slots=True)
class _WrittenOut:
    """``text`` with what was said aloud written out (digits, "@", "."), and where each piece came from, so that a
    span found in ``text`` is mapped back onto the words said."""

    text: str
    pieces: tuple[tuple[int, int, int, int, bool], ...]  # (start, end) written, (start, end) said, rewritten

    def said_span(self, start: int, end: int) -> tuple[int, int]:
        first = next(p for p in self.pieces if p[0] <= start < p[1])
        last = next(p for p in self.pieces if p[0] < end <= p[1])
        said_start = first[2] if first[4] else first[2] + start - first[0]
        said_end = last[3] if last[4] else last[2] + end - last[0]
        return said_start, said_end


def _spoken_rewrites(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, written form) of each number and email said aloud in ``text``, in order."""
    for match in _SPOKEN_NUMBER.finditer(text):
        digits = "".join(_DIGIT_VALUES[word.group(2).lower()] * {"double": 2, "triple": 3}.get(
            (word.group(1) or "").lower(), 1) + (" " if "," in word.group(3) else "")
                         for word in _SPOKEN_WORD.finditer(match.group(0)))
        if sum(c.isdigit() for c in digits) >= 5:
            yield match.start(), match.end(), digits.strip()
    start = 0
    while (match := _SPOKEN_EMAIL.search(text, start)) is not None:
        said = match.group(0)
        written = _SAID_SEPARATOR.sub(lambda m: _WRITTEN[m.group(0).strip(" ()[]<>{}").lower()], said)
        if said != written.replace("@", " at ") and _BundledSuffixEmailRecognizer.valid_domain(written):
            yield match.start(), match.end(), written
            start = match.end()
        else:  # "me at priya dot raman at ..." is not an email; "priya dot raman at ..." may be
            start = match.start() + len(said.split(maxsplit=1)[0])


def _written_out(text: str) -> _WrittenOut:
    rewrites = sorted(_spoken_rewrites(text))
    parts, pieces, said_at, written_at = [], [], 0, 0
    for start, end, written in rewrites:
        if start < said_at:
            continue  # within an earlier rewrite
        for piece, said_end, rewritten in ((text[said_at:start], start, False), (written, end, True)):
            parts.append(piece)
            pieces.append((written_at, written_at + len(piece), said_at, said_end, rewritten))
            written_at, said_at = written_at + len(piece), said_end
    parts.append(text[said_at:])
    pieces.append((written_at, written_at + len(text) - said_at, said_at, len(text), False))
    return _WrittenOut("".join(parts), tuple(pieces))


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
        written = _written_out(text)
        digits = len(_DIGIT.findall(written.text))
        entities = [entity for kind, entities in self._entities.items() if _may_hold(kind, written.text, digits)
                    for entity in entities]
        if not entities:
            return []
        kept: list[RecognizerResult] = []
        # The strongest finding first: one within it (digits of a card read as an id, of an IBAN as a phone
        # number) is part of it, not another value.
        found = self.analyzer.analyze(written.text, language=LANGUAGE, entities=entities)
        for r in sorted(found, key=lambda r: (-r.score, r.start - r.end)):
            start, end = written.said_span(r.start, r.end)
            if not any(k.start <= start and end <= k.end for k in kept):
                kept.append(RecognizerResult(r.entity_type, start, end, r.score))
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
