"""The measures of the whole call so far, kept up reading after reading at the cost of a window.

A live reading sees a window of the last messages. The call's measures are those the previous reading kept, plus
what the messages since then changed: the window's measures less those of the window's messages the previous
reading had already counted (its context). A rule that looks at the turn before (a follow-up, an answer to an
objection) thus sees it across the boundary, an objection raised before the boundary and answered after it is
counted as answered, and the buyer's earlier noes are carried into the window. Counts add up, topics and value themes
accumulate, the longest monologue is the longest of the call, and the next step is the buyer's latest word on it.

The window and its context share their turns' texts, read once (``conversation.TurnText``); handed the texts the
previous reading read, a reading reads only the messages that came since.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from typing import Any

from analysis_svc.domain.conversation import (
    ConversationMetrics,
    Monologue,
    Objection,
    ObjectionKind,
    Topic,
    TurnTexts,
    ValueTheme,
    measure,
    turn_text,
)
from analysis_svc.domain.phrasebook import phrases_for
from calls.turns import Role, Turn

# Measures that are sums over the call's turns.
_COUNTS = ("turn_count", "candidate_turns", "persona_turns", "candidate_questions", "candidate_open_questions",
           "listening_signals", "value_statements", "followup_questions", "leading_questions",
           "tailored_value_statements", "feature_dumps", "dismissals", "pushes_after_decline", "interruptions",
           "candidate_words", "persona_words", "hesitations", "hesitation_points", "buyer_questions",
           "open_buyer_questions", "playbacks", "grounded_value", "pushes", "graceful_exits", "refusals")

NOTHING_SAID = measure(())


def advance(previous: ConversationMetrics | None, previous_last: int, window: Sequence[Turn],
            read: TurnTexts | None = None, language: str = "en") -> ConversationMetrics:
    """The call's measures up to the window's last message, from ``previous`` (the call up to ``previous_last``; None
    at the call's start) and a window that reaches back to ``previous_last`` or before it, read with the phrases of
    the call's ``language`` (``read``: turn texts earlier readings read, to which the window's are added)."""
    read = {} if read is None else read
    phrases = phrases_for(language)
    seen = previous or NOTHING_SAID
    context = [turn for turn in window if turn.sequence <= previous_last]
    # The noes said before the window still count: after a second no, pressing on is pushing.
    earlier_refusals = seen.refusals - sum(turn.role == Role.ASSISTANT and turn_text(turn.text, read, phrases).refuses
                                           for turn in context)
    now, before = measure(window, earlier_refusals, read, phrases), measure(context, earlier_refusals, read, phrases)
    counts = {name: getattr(seen, name) + getattr(now, name) - getattr(before, name) for name in _COUNTS}
    total_words = counts["candidate_words"] + counts["persona_words"]
    candidate_turns, persona_turns = counts["candidate_turns"], counts["persona_turns"]
    # An objection the window saw again replaces the earlier reading of it: its answer may have come since.
    objections = {(objection.sequence, objection.kind): objection for objection in seen.objections}
    objections.update({(objection.sequence, objection.kind): objection for objection in now.objections})
    # The step stands as the previous reading left it unless the new messages agreed one or turned it down.
    # The learned reading weighs the whole call's words: the window's new ones are added to those kept.
    sales_terms = None if now.sales_terms is None else dict(
        Counter(seen.sales_terms or {}) + Counter(now.sales_terms) - Counter(before.sales_terms or {}))
    step = now if (now.next_step_committed, now.next_step_dated) != (before.next_step_committed,
                                                                     before.next_step_dated) else seen
    return dataclasses.replace(
        now, **counts,
        candidate_talk_ratio=counts["candidate_words"] / total_words if total_words else 0.0,
        persona_talk_ratio=counts["persona_words"] / total_words if total_words else 0.0,
        candidate_question_rate=counts["candidate_questions"] / candidate_turns if candidate_turns else 0.0,
        candidate_words_per_turn=counts["candidate_words"] / candidate_turns if candidate_turns else 0.0,
        persona_words_per_turn=counts["persona_words"] / persona_turns if persona_turns else 0.0,
        longest_monologue=max(seen.longest_monologue, now.longest_monologue, key=lambda m: m.words),
        candidate_longest_monologue_words=max(seen.candidate_longest_monologue_words,
                                              now.candidate_longest_monologue_words),
        topics_covered=seen.topics_covered | now.topics_covered,
        objections=tuple(sorted(objections.values(), key=lambda objection: objection.sequence)),
        value_themes=seen.value_themes | now.value_themes,
        next_step_proposed=seen.next_step_proposed or now.next_step_proposed,
        next_step_committed=step.next_step_committed,
        next_step_dated=step.next_step_dated,
        sales_terms=sales_terms,
    )


def to_record(metrics: ConversationMetrics) -> dict[str, Any]:
    """The measures as JSON, for the reading's row."""
    # A shallow copy: the only nested measures are replaced below (asdict would copy them deeply first).
    record = {field.name: getattr(metrics, field.name) for field in dataclasses.fields(metrics)}
    record["longest_monologue"] = {"role": metrics.longest_monologue.role, "words": metrics.longest_monologue.words}
    record["topics_covered"] = sorted(metrics.topics_covered)
    record["value_themes"] = sorted(metrics.value_themes)
    record["objections"] = [[o.sequence, o.kind.value, o.handled] for o in metrics.objections]
    return record


def from_record(record: dict[str, Any]) -> ConversationMetrics:
    monologue = record["longest_monologue"]
    return ConversationMetrics(**{
        **record,
        "longest_monologue": Monologue(Role(monologue["role"]) if monologue["role"] else None, monologue["words"]),
        "topics_covered": frozenset(Topic(topic) for topic in record["topics_covered"]),
        "value_themes": frozenset(ValueTheme(theme) for theme in record["value_themes"]),
        "objections": tuple(Objection(sequence, ObjectionKind(kind), handled)
                            for sequence, kind, handled in record["objections"]),
    })
