"""Conversation measures of a transcript window: who talks, who asks, what was discovered, which objections
were raised and answered, and whether a next step was agreed. Pure text rules, no I/O.

Speech-to-text rarely punctuates reliably, so questions are recognised by their opening words as well as by a
question mark, and every pattern is matched case-insensitively on whole words."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from svckit.turns import Role, Turn, normalise, words


class Topic(StrEnum):
    PAIN = "pain"
    BUDGET = "budget"
    TIMELINE = "timeline"
    DECISION_PROCESS = "decision_process"
    SUCCESS_CRITERIA = "success_criteria"


class ObjectionKind(StrEnum):
    PRICE = "price"
    TIMING = "timing"
    COMPETITOR = "competitor"
    RISK = "risk"
    AUTHORITY = "authority"
    STATUS_QUO = "status_quo"


class ValueTheme(StrEnum):
    COST_SAVINGS = "cost savings"
    TIME_SAVINGS = "time savings"
    REVENUE_GROWTH = "revenue growth"
    RISK_REDUCTION = "risk reduction"
    PROOF = "customer proof"


@dataclass(frozen=True, slots=True)
class Objection:
    sequence: int  # the persona turn that raised it
    kind: ObjectionKind
    handled: bool  # the candidate's next turn acknowledged it and addressed it


@dataclass(frozen=True, slots=True)
class Monologue:
    role: Role | None  # None when nobody spoke
    words: int


@dataclass(frozen=True, slots=True)
class ConversationMetrics:
    turn_count: int
    candidate_turns: int
    persona_turns: int
    candidate_talk_ratio: float  # share of all words, 0.0 to 1.0
    persona_talk_ratio: float
    candidate_questions: int
    candidate_open_questions: int
    candidate_question_rate: float  # questions per candidate turn
    candidate_words_per_turn: float
    persona_words_per_turn: float
    longest_monologue: Monologue  # consecutive turns of one speaker count as one monologue
    candidate_longest_monologue_words: int
    topics_covered: frozenset[Topic]
    objections: tuple[Objection, ...]
    listening_signals: int  # candidate turns that acknowledge, empathise or play back what was said
    value_themes: frozenset[ValueTheme]
    value_statements: int  # candidate turns that tie the offer to an outcome
    next_step_proposed: bool
    next_step_committed: bool

    @property
    def uncovered_topics(self) -> tuple[Topic, ...]:
        return tuple(topic for topic in Topic if topic not in self.topics_covered)

    @property
    def objections_raised(self) -> int:
        return len(self.objections)

    @property
    def objections_handled(self) -> int:
        return sum(objection.handled for objection in self.objections)

    @property
    def unanswered_objections(self) -> tuple[Objection, ...]:
        return tuple(objection for objection in self.objections if not objection.handled)


def _patterns(*alternatives: str) -> re.Pattern[str]:
    # Lookarounds rather than \b, so that alternatives may start with a symbol such as "$".
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_QUESTION_OPENING = _patterns(
    r"what", r"what's", r"how", r"why", r"when", r"where", r"who", r"which",
    r"do", r"does", r"did", r"is", r"are", r"was", r"were", r"can", r"could", r"would", r"will", r"should",
    r"have", r"has", r"tell me", r"walk me through", r"help me understand", r"describe",
)  # fmt: skip
_OPEN_QUESTION_WORDS = _patterns(
    r"what", r"what's", r"how", r"why", r"tell me", r"walk me through", r"help me understand", r"describe"
)

_TOPIC_PATTERNS: dict[Topic, re.Pattern[str]] = {
    Topic.PAIN: _patterns(
        r"problems?", r"challenges?", r"challenging", r"struggl\w*", r"pain\w*", r"frustrat\w*", r"issues?",
        r"bottlenecks?", r"headaches?", r"not working", r"keeps? you up", r"broken", r"manual(?:ly)?",
        r"losing", r"churn\w*", r"mistakes?", r"errors?", r"complain\w*", r"slow(?:s|ing|er)?", r"hard to",
    ),
    Topic.BUDGET: _patterns(
        r"budget\w*", r"spend\w*", r"invest\w*", r"funding", r"funds", r"allocated", r"set aside",
        r"price range", r"cost of (?:the problem|doing nothing|that)", r"how much (?:do|would|could|can|are)",
        r"\$\s?\d[\d,.]*k?", r"\d+k", r"\d+ (?:thousand|million)", r"dollars", r"euros", r"financial\w*",
    ),
    Topic.TIMELINE: _patterns(
        r"timelines?", r"time ?frames?", r"deadlines?", r"by when", r"how soon", r"urgen\w*",
        r"when (?:do|would|are|will|did) (?:you|we|they)", r"go[- ]live", r"launch\w*", r"roll ?out",
        r"(?:this|next|end of the) (?:quarter|month|year)", r"q[1-4]",
        r"(?:in|within|next) (?:a |the )?(?:few |couple of |two |three |\d+ )?(?:weeks?|months?)",
    ),
    Topic.DECISION_PROCESS: _patterns(
        r"decisions?", r"decide\w*", r"decision[- ]makers?", r"sign[- ]?off", r"signs off",
        r"who (?:reviews|approves)", r"approv\w*", r"who else",
        r"stakeholders?", r"procurement", r"buying process", r"evaluation process", r"board", r"committee",
        r"(?:my|your|the|our) (?:boss|manager|cfo|ceo|cto|vp|director|head of \w+)", r"legal review",
    ),
    Topic.SUCCESS_CRITERIA: _patterns(
        r"success\w*", r"measur\w*", r"metrics?", r"kpis?", r"goals?", r"outcomes?", r"targets?",
        r"look like (?:in|after|a year|\d+ days)", r"how (?:will|would) you know", r"what (?:would|does) good",
        r"win for you",
    ),
}

_OBJECTION_PATTERNS: dict[ObjectionKind, re.Pattern[str]] = {
    ObjectionKind.PRICE: _patterns(
        r"too expensive", r"expensive", r"pricey", r"costs? too much", r"out of (?:our|my) (?:budget|price range)",
        r"can't afford", r"cannot afford", r"price is (?:too )?high", r"too much money", r"cheaper",
    ),
    ObjectionKind.TIMING: _patterns(
        r"not (?:a good|the right) time", r"bad timing", r"too busy", r"not a priority", r"revisit",
        r"circle back", r"maybe next (?:quarter|year)", r"later this year", r"no bandwidth",
    ),
    ObjectionKind.COMPETITOR: _patterns(
        r"already (?:use|using|work with|working with|have a vendor)", r"competitors?", r"another vendor",
        r"other vendors?", r"(?:looking at|evaluating) (?:other|alternatives|a few)", r"competitive quotes?",
    ),
    ObjectionKind.RISK: _patterns(
        r"risky", r"too much risk", r"worried", r"concerned", r"nervous", r"not sure (?:it|this) (?:will|would)",
        r"burned before", r"been burned", r"disrupt\w*", r"what if it (?:fails|breaks|doesn't)",
    ),
    ObjectionKind.AUTHORITY: _patterns(
        r"not my (?:decision|call)", r"not up to me", r"(?:check|talk|run (?:it|this)) (?:with|by) (?:my|our) \w+",
        r"needs? (?:approval|sign[- ]?off)", r"above my pay grade", r"the board (?:has|would) to",
    ),
    ObjectionKind.STATUS_QUO: _patterns(
        r"happy with (?:what we have|our current|the current|how)", r"works? fine", r"good enough",
        r"(?:don't|do not) (?:really )?need (?:this|that|it|a new)", r"we've always", r"never needed",
        r"(?:spreadsheets?|current (?:process|system|tool)) (?:works?|is fine|does the job)",
    ),
}

_ACKNOWLEDGEMENT = _patterns(
    r"i (?:completely |totally |really )?(?:understand|hear you|get (?:it|that|why))", r"understandable",
    r"makes sense", r"(?:that's |that is )?fair", r"good point", r"great (?:point|question)",
    r"valid (?:point|concern)", r"appreciate", r"i agree", r"you're right", r"absolutely", r"of course",
    r"i can see why", r"that's a (?:real|big|common|reasonable) (?:concern|challenge|question)",
)
_PLAYBACK = _patterns(
    r"you mentioned", r"you said", r"what i'm hearing", r"if i understand", r"so it sounds like",
    r"sounds like", r"thanks for sharing", r"thank you for", r"that must be",
)

# What a real answer to each objection mentions; a clarifying question also counts as addressing it.
_OBJECTION_ANSWERS: dict[ObjectionKind, re.Pattern[str]] = {
    ObjectionKind.PRICE: _patterns(
        r"roi", r"return", r"pays? for itself", r"pay ?back", r"sav\w*", r"value", r"cost of", r"per (?:month|seat)",
        r"pricing (?:options|tiers?)", r"payment", r"discount", r"compared to", r"worth",
    ),
    ObjectionKind.TIMING: _patterns(
        r"pilot", r"phased?", r"start small", r"quick\w*", r"weeks?", r"cost of waiting", r"light ?weight",
        r"minimal (?:effort|time)", r"we (?:handle|do) (?:the|most)", r"when would",
    ),
    ObjectionKind.COMPETITOR: _patterns(
        r"differen\w*", r"unlike", r"compar\w*", r"integrat\w*", r"alongside", r"switch\w*", r"what do you like",
        r"side by side", r"better at",
    ),
    ObjectionKind.RISK: _patterns(
        r"pilot", r"trial", r"guarantee\w*", r"references?", r"case stud\w*", r"secur\w*", r"roll ?back",
        r"phased?", r"support", r"no long[- ]term", r"cancel",
    ),
    ObjectionKind.AUTHORITY: _patterns(
        r"who else", r"loop (?:in|them in)", r"join", r"meeting with",
        r"what (?:would|will|does|do) (?:they|he|she|your \w+) need",
        r"make the case", r"business case", r"one[- ]pager", r"present",
    ),
    ObjectionKind.STATUS_QUO: _patterns(
        r"what would happen", r"cost of", r"how much time", r"if nothing changes", r"impact", r"hours",
        r"what (?:happens|breaks) when", r"scale",
    ),
}
_CLARIFYING_QUESTION = _patterns(
    r"what's driving", r"what is driving", r"help me understand", r"what specifically", r"which part",
    r"what would (?:need to|make|it take)", r"compared to what", r"can i ask", r"what's behind",
)

_VALUE_PATTERNS: dict[ValueTheme, re.Pattern[str]] = {
    ValueTheme.COST_SAVINGS: _patterns(
        r"sav(?:e|es|ed|ing|ings) (?:you )?(?:money|\$|costs?|budget)", r"cost savings?", r"cut (?:costs?|spend)",
        r"reduc\w* (?:costs?|spend)", r"roi", r"pays? for itself", r"lower (?:costs?|spend)",
    ),
    ValueTheme.TIME_SAVINGS: _patterns(
        r"sav(?:e|es|ed|ing) (?:you |your team )?(?:\d+ )?(?:hours?|time|days?)", r"faster", r"hours (?:a|per) week",
        r"automat\w*", r"in minutes", r"instead of (?:days|hours|weeks)",
    ),
    ValueTheme.REVENUE_GROWTH: _patterns(
        r"(?:grow|increase|boost)\w* (?:revenue|sales|conversion|pipeline)", r"more (?:deals|revenue|customers)",
        r"win rates?", r"upsell",
    ),
    ValueTheme.RISK_REDUCTION: _patterns(
        r"fewer (?:errors|mistakes|incidents|outages)", r"reduc\w* (?:risk|errors|incidents|churn)", r"complian\w*",
        r"downtime",
    ),
    ValueTheme.PROOF: _patterns(
        r"customers? like you", r"companies like yours", r"teams like yours", r"case stud\w*",
        r"(?:one|another) (?:of our )?(?:customers?|clients?)", r"\d+ ?(?:%|percent)",
    ),
}

_NEXT_STEP = _patterns(
    r"schedule", r"book", r"calendar invite", r"set up (?:a|the) (?:call|meeting|demo|time|trial|pilot)",
    r"(?:send|share) (?:you |over )?(?:a |the )?(?:proposal|quote|contract|agreement)", r"trial", r"pilot",
    r"follow[- ]up (?:call|meeting)", r"next (?:monday|tuesday|wednesday|thursday|friday|week)",
    r"(?:on|this) (?:monday|tuesday|wednesday|thursday|friday)", r"demo", r"next steps?",
)
_AGREEMENT = _patterns(
    r"yes", r"yeah", r"sure", r"sounds good", r"works for me", r"that works", r"let's do (?:it|that)",
    r"deal", r"send (?:it|me)", r"happy to", r"book it", r"go ahead", r"okay", r"ok", r"perfect",
)
_DECLINE = _patterns(
    r"not ready", r"hold off", r"no thanks", r"i'll think about it", r"let me think", r"don't think so",
    r"not interested", r"not (?:right )?now", r"maybe later", r"send me some information",
)


def measure(turns: Iterable[Turn]) -> ConversationMetrics:
    """Measure a window of turns, in sequence order whatever order they come in."""
    ordered = sorted(turns, key=lambda turn: turn.sequence)
    texts = [normalise(turn.text) for turn in ordered]
    candidate = [text for turn, text in zip(ordered, texts, strict=True) if turn.role == Role.USER]
    persona = [text for turn, text in zip(ordered, texts, strict=True) if turn.role == Role.ASSISTANT]
    candidate_words = sum(words(text) for text in candidate)
    persona_words = sum(words(text) for text in persona)
    total_words = candidate_words + persona_words
    questions = [sentence for text in candidate for sentence in _questions(text)]
    # "Before I design anything, what ..." is still open: look past a leading clause.
    open_questions = [question for question in questions if _OPEN_QUESTION_WORDS.search(question)]
    longest, candidate_longest = _monologues(ordered)
    value_hits = [{theme for theme, pattern in _VALUE_PATTERNS.items() if pattern.search(text)} for text in candidate]
    proposed, committed = _next_step(ordered, texts)
    return ConversationMetrics(
        turn_count=len(ordered),
        candidate_turns=len(candidate),
        persona_turns=len(persona),
        candidate_talk_ratio=candidate_words / total_words if total_words else 0.0,
        persona_talk_ratio=persona_words / total_words if total_words else 0.0,
        candidate_questions=len(questions),
        candidate_open_questions=len(open_questions),
        candidate_question_rate=len(questions) / len(candidate) if candidate else 0.0,
        candidate_words_per_turn=candidate_words / len(candidate) if candidate else 0.0,
        persona_words_per_turn=persona_words / len(persona) if persona else 0.0,
        longest_monologue=longest,
        candidate_longest_monologue_words=candidate_longest,
        topics_covered=frozenset(_topics(questions, persona)),
        objections=tuple(_objections(ordered, texts)),
        listening_signals=sum(bool(_ACKNOWLEDGEMENT.search(text) or _PLAYBACK.search(text)) for text in candidate),
        value_themes=frozenset(theme for hits in value_hits for theme in hits),
        value_statements=sum(bool(hits) for hits in value_hits),
        next_step_proposed=proposed,
        next_step_committed=committed,
    )


def _questions(text: str) -> list[str]:
    sentences = (sentence.strip() for sentence in _SENTENCE_END.split(text))
    return [s for s in sentences if s and (s.endswith("?") or _QUESTION_OPENING.match(s))]


def _topics(candidate_questions: Sequence[str], persona_texts: Sequence[str]) -> set[Topic]:
    # Asked by the candidate, or told by the persona: either way the topic is on the table.
    sources = [*candidate_questions, *persona_texts]
    return {topic for topic, pattern in _TOPIC_PATTERNS.items() if any(pattern.search(text) for text in sources)}


def _monologues(ordered: Sequence[Turn]) -> tuple[Monologue, int]:
    # Speech-to-text splits one long answer into several messages, so a run of one speaker is one monologue.
    longest = Monologue(role=None, words=0)
    candidate_longest = 0
    run_role: Role | None = None
    run_words = 0
    for turn in ordered:
        run_words = run_words + words(turn.text) if turn.role == run_role else words(turn.text)
        run_role = turn.role
        if run_words > longest.words:
            longest = Monologue(role=run_role, words=run_words)
        if run_role == Role.USER:
            candidate_longest = max(candidate_longest, run_words)
    return longest, candidate_longest


def _objections(ordered: Sequence[Turn], texts: Sequence[str]) -> list[Objection]:
    objections = []
    for index, turn in enumerate(ordered):
        if turn.role != Role.ASSISTANT:
            continue
        reply = texts[index + 1] if index + 1 < len(ordered) and ordered[index + 1].role == Role.USER else None
        for kind, pattern in _OBJECTION_PATTERNS.items():
            if pattern.search(texts[index]):
                objections.append(Objection(turn.sequence, kind, reply is not None and _answers(kind, reply)))
    return objections


def _answers(kind: ObjectionKind, reply: str) -> bool:
    acknowledged = bool(_ACKNOWLEDGEMENT.search(reply) or _PLAYBACK.search(reply))
    addressed = bool(_OBJECTION_ANSWERS[kind].search(reply) or _CLARIFYING_QUESTION.search(reply))
    return acknowledged and addressed


def _next_step(ordered: Sequence[Turn], texts: Sequence[str]) -> tuple[bool, bool]:
    proposed = committed = False
    for index, turn in enumerate(ordered):
        if turn.role == Role.USER and _NEXT_STEP.search(texts[index]):
            proposed = True
        if turn.role != Role.ASSISTANT or _DECLINE.search(texts[index]) or not _AGREEMENT.search(texts[index]):
            continue
        # The persona agrees to a concrete step it names itself or the candidate just proposed.
        previous_proposed = index > 0 and ordered[index - 1].role == Role.USER and _NEXT_STEP.search(texts[index - 1])
        if previous_proposed or _NEXT_STEP.search(texts[index]):
            committed = True
    return proposed, committed
