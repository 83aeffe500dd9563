"""Learned facts: what a persona keeps of an ended call (the candidate's commitments and stated facts, what the
persona disclosed, the objections it raised and how they ended), each citing the messages it comes from, with a
confidence and a validity interval; and the deterministic local extractor.

The extractor reads each turn on its own with phrase lists written on the development calls of
``tests/data/memory_facts`` (its figures on the held-out calls are in ``docs/memory_facts.md``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from calls.turns import Role, Turn, normalise
from svckit.errors import Violations

MAX_FACT_CHARS = 300
MAX_FACTS_PER_SESSION = 100


class FactKind(StrEnum):
    COMMITMENT = "commitment"
    CANDIDATE_FACT = "candidate_fact"
    DISCLOSURE = "disclosure"
    OBJECTION = "objection"


class ObjectionOutcome(StrEnum):
    NONE = ""  # not an objection
    OPEN = "open"
    HANDLED = "handled"


@dataclass(frozen=True, slots=True)
class ExtractedFact:
    """A fact as an extractor (or a caller) states it, before it is stored."""

    kind: FactKind
    text: str
    topic: str
    message_sequences: tuple[int, ...]
    confidence: float
    outcome: ObjectionOutcome = ObjectionOutcome.NONE


@dataclass(frozen=True, slots=True)
class Extraction:
    """The facts an extractor found in a call, and the engine that found them."""

    engine: str
    facts: list[ExtractedFact]


@dataclass(frozen=True, slots=True)
class Fact:
    """A stored fact of a persona about a candidate; valid until a later fact of the same kind and topic
    supersedes it (``valid_until`` and ``superseded_by`` set, the fact kept)."""

    id: str
    persona_id: str
    candidate_id: str
    session_id: str
    kind: FactKind
    text: str
    topic: str
    message_sequences: tuple[int, ...]
    confidence: float
    outcome: ObjectionOutcome
    engine: str
    valid_from: datetime
    valid_until: datetime | None = None
    superseded_by: str = ""

    @property
    def resource_name(self) -> str:
        return f"personas/{self.persona_id}/candidates/{self.candidate_id}/facts/{self.id}"

    @property
    def superseded_by_name(self) -> str:
        if not self.superseded_by:
            return ""
        return f"personas/{self.persona_id}/candidates/{self.candidate_id}/facts/{self.superseded_by}"

    def superseded(self, by: Fact) -> Fact:
        return replace(self, valid_until=by.valid_from, superseded_by=by.id)


def check_citations(facts: list[ExtractedFact], sequences: set[int], field_path: str) -> None:
    """Every fact cites at least one message of the session, and only messages that exist: a fact that cites
    another is refused (reason FACT_CITES_UNKNOWN_MESSAGE), naming the field."""
    violations = Violations()
    unknown = False
    for index, fact in enumerate(facts):
        where = f"{field_path}[{index}]"
        violations.require(bool(fact.message_sequences), f"{where}.message_sequences", "must cite a message")
        for position, sequence in enumerate(fact.message_sequences):
            if sequence not in sequences:
                unknown = True
                violations.add(f"{where}.message_sequences[{position}]",
                               f"message {sequence} is not a message of the session")
        violations.require(0 < len(fact.text) <= MAX_FACT_CHARS, f"{where}.text",
                           f"must be 1-{MAX_FACT_CHARS} characters")
        violations.require(0.0 <= fact.confidence <= 1.0, f"{where}.confidence", "must be between 0 and 1")
    violations.require(len(facts) <= MAX_FACTS_PER_SESSION, field_path,
                       f"holds {len(facts)} facts; at most {MAX_FACTS_PER_SESSION} a session")
    violations.raise_if_any("FACT_CITES_UNKNOWN_MESSAGE" if unknown else "INVALID_ARGUMENT")


def _any(*phrases: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(phrases) + r")\b")


# --- the local extractor's phrase lists ---------------------------------------------------------------------

_COMMITMENT = _any(
    r"i'll (?:send|follow|bring|call|get|put|write|email|book|set|check)", r"i will (?:send|have|follow|bring|call)",
    r"we'll (?:send|have|follow|bring|call|get|put|set)", r"let me (?:send|book|get|put|write|set up)",
    r"i'm going to (?:send|call|put)", r"we're set for", r"(?:work|write) up (?:a|the) (?:quote|proposal)",
    r"i'll follow up",
)
# A question offering to act is not yet a promise.
_OFFER_QUESTION = _any(r"shall i", r"should i", r"want me to", r"would you like me to", r"do you want me to")
_NUMBER = (r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|"
           r"forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|half)")
_QUANTITY = re.compile(_NUMBER + r"\b[\w ]{0,24}?\b(?:percent|%|thousand|hundred|dollars|bucks|per (?:user|seat|month|"
                       r"year)|a (?:year|month)|weeks?|days?|hours?|months?|years?)\b")
_CLAIM = _any(
    r"we (?:do )?have (?:a |an )?(?:owner|free|dedicated|\w+ financing)", r"we offer", r"we integrate", r"we've helped",
    r"(?:dashboard|platform|product|plan|package|tool) (?:shows|gives|includes|handles|lets|starts)",
    r"(?:adjust|raise|increase|lower) (?:your|the|our) prices?", r"(?:is|are) already agreed",
    r"introduces (?:herself|himself|themselves) from", r"my \w+ is an? \w+",
    r"there's no discount",
)
_OBJECTION = _any(
    r"can't accept", r"you can't be serious", r"too (?:expensive|much|high|pricey)", r"not (?:interested|there yet)",
    r"i don't think i", r"worried", r"concerned", r"sounds like a lot", r"a mess", r"couldn't take", r"can't take",
    r"swallowed", r"has to be another way", r"need more than that", r"how (?:do )?we get to",
    r"already (?:have|use|work with)", r"costs? too", r"out of (?:our|my) budget",
)
_ACCEPTANCE = _any(
    r"sounds (?:good|great)", r"that makes sense", r"let's do", r"yes,? (?:it would|definitely)", r"that works",
    r"deal",
)
_DISCLOSURE = _any(
    r"we(?:'re| are| have|'ve| run| use| hold| had| need| want| lose| do| probably)", r"we'd", r"both of us",
    r"our (?:\w+ )?(?:team|ceo|cfo|ciso|cto|boss|budget|data|engineers|volumes|orders|customers|current|sales|"
    r"process|company|sales manager|legal)",
    r"i(?:'m| am| work| make| want| need| have| had|'ve|'d like)", r"my (?:wife|husband|team|boss|office|company)",
    r"the plan is", r"back in", r"explains what", r"describes (?:what|how)",
)
_QUESTION_LEAD = re.compile(r"\b(?:could|can|would|should|shall|do|did|will|how|when|what|where|why) (?:we|i)\s*$")
_TOPICS = ("proposal", "invoice", "quote", "demo", "pilot", "contract", "information", "price", "pricing",
           "discount", "budget", "timeline", "delivery", "financing", "payment", "meeting", "call", "email",
           "engineer", "team", "supplier", "vendor", "insurance", "data", "leads", "reporting", "crm")


def _statement_match(pattern: re.Pattern[str], text: str) -> bool:
    """A match not led by a question word ("when could we do it" states nothing)."""
    return any(not _QUESTION_LEAD.search(text[:match.start()]) for match in pattern.finditer(text))


def topic_of(text: str) -> str:
    """What a fact is about, so a later fact on the same subject supersedes it: the first subject word it names,
    else its first three longer words."""
    lowered = normalise(text).lower()
    for word in _TOPICS:
        if re.search(rf"\b{word}s?\b", lowered):
            return "price" if word == "pricing" else word
    return " ".join(re.findall(r"[a-z]{4,}", lowered)[:3])


def _fact(kind: FactKind, turn: Turn, confidence: float, outcome: ObjectionOutcome = ObjectionOutcome.NONE,
          about: str = "") -> ExtractedFact:
    """A fact of one turn; its topic is taken from ``about`` (the part of the turn the fact is in) when given."""
    text = " ".join(turn.text.split())[:MAX_FACT_CHARS]
    return ExtractedFact(kind, text, topic_of(about or text), (turn.sequence,), confidence, outcome)


def _objection_outcome(turns: list[Turn], index: int) -> ObjectionOutcome:
    """Handled when a later turn of the persona accepts, and no objection follows that acceptance."""
    outcome = ObjectionOutcome.OPEN
    for later in turns[index + 1:]:
        if later.role is not Role.ASSISTANT:
            continue
        text = normalise(later.text).lower()
        if _ACCEPTANCE.search(text):
            outcome = ObjectionOutcome.HANDLED
        elif _OBJECTION.search(text):
            outcome = ObjectionOutcome.OPEN
    return outcome


def extract_facts(turns: list[Turn]) -> list[ExtractedFact]:
    """The facts of a call by the local phrase lists, in the order of the turns."""
    facts: list[ExtractedFact] = []
    for index, turn in enumerate(turns):
        text = normalise(turn.text).lower()
        if turn.role is Role.USER:
            promise = _COMMITMENT.search(text)
            if promise and not _OFFER_QUESTION.search(text):
                dated = re.search(r"\b(?:by|on|next|tomorrow|today|end of day|monday|tuesday|wednesday|thursday|"
                                  r"friday|week)\b", text)
                facts.append(_fact(FactKind.COMMITMENT, turn, 0.8 if dated else 0.6, about=text[promise.start():]))
            if _QUANTITY.search(text) or _CLAIM.search(text):
                facts.append(_fact(FactKind.CANDIDATE_FACT, turn, 0.7 if _QUANTITY.search(text) else 0.5))
        else:
            if _OBJECTION.search(text):
                facts.append(_fact(FactKind.OBJECTION, turn, 0.7, _objection_outcome(turns, index)))
            if len(text.split()) >= 4 and _statement_match(_DISCLOSURE, text):
                facts.append(_fact(FactKind.DISCLOSURE, turn, 0.5))
    return facts
