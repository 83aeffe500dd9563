"""Conversation measures of a transcript window: who talks, who asks, what was discovered, which objections
were raised and answered, and whether a next step was agreed. Pure text rules, no I/O.

Speech-to-text rarely punctuates reliably, so questions are recognised by their opening words as well as by a
question mark, and every pattern is matched case-insensitively on whole words. Numbers may come as digits or as
words ("twenty three percent"), as speech-to-text writes either.

Besides what was said, the measures look at how it was said, as a coach would: whether questions follow up on
the buyer's last answer, whether value is argued from the buyer's own words or recited as a feature list,
whether the candidate argues with the buyer ("yeah but ...") and whether they keep pushing after a no."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property, partial

from analysis_svc.domain import coaching
from analysis_svc.domain.patterns import whole_words as _patterns
from analysis_svc.domain.sales_words import SALES_WORDS, grams
from calls.turns import Role, Turn, normalise, words


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
    # How it was said; defaults keep older callers constructing metrics working.
    followup_questions: int = 0  # candidate turns asking about something the buyer just said
    leading_questions: int = 0  # "wouldn't you agree ...": not counted as questions
    tailored_value_statements: int = 0  # value built on the buyer's own words or answering their objection
    feature_dumps: int = 0  # candidate turns reciting a list of features
    dismissals: int = 0  # candidate turns that argue with or wave away what the buyer said
    pushes_after_decline: int = 0  # next steps pressed right after the buyer said no
    interruptions: int = 0  # buyer turns cut off mid-sentence by the candidate
    next_step_dated: bool = False  # the agreed step has a day or a time
    candidate_words: int = 0
    persona_words: int = 0
    # What a coach listens for (``coaching``).
    hesitations: int = 0
    hesitation_points: int = 0
    buyer_questions: int = 0
    open_buyer_questions: int = 0
    playbacks: int = 0
    grounded_value: int = 0
    pushes: int = 0
    graceful_exits: int = 0
    refusals: int = 0
    # How often the call says each term the sales factors' learned reading weighs (``sales_words``); None for a call
    # not read with English's phrases, whose sales factors are the rules' alone.
    sales_terms: dict[str, int] | None = None

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


# Numbers as digits or as speech-to-text spells them out.
_UNITS = r"(?:one|two|three|four|five|six|seven|eight|nine)"
_NUMBER = (r"(?:\d+(?:[.,]\d+)?|(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[ -]" + _UNITS + r")?"
           r"|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|" + _UNITS
           + r"|a hundred)")
_PERCENT = _NUMBER + r" ?(?:%|percent)(?! (?:off|discount))"  # "twenty percent off" is a discount, not a result
_ORDINAL = (r"(?:\d{1,2}(?:st|nd|rd|th)|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh"
            r"|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|thirtieth"
            r"|(?:twenty|thirty)[ -](?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth))")
_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
# A day or a time that makes a next step concrete.
_DATE_TIME = _patterns(
    _WEEKDAY, r"tomorrow", r"the " + _ORDINAL, r"(?:january|february|march|april|june|july|august|september|october"
    r"|november|december) " + _ORDINAL,
    r"(?:at|by) \d{1,2}(?::\d\d)?(?! ?(?:%|percent|\d))", r"(?:at|by) noon",
    # "at two", "at nine thirty", but not "at one of our customers"
    r"(?:at|by) (?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
    r"(?= ?(?:o'clock|thirty|fifteen|forty[- ]five|sharp|then|[.,;?!]|$))(?! ?(?:%|percent))",
    r"(?:\d{1,2}(?::\d\d)?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve) ?(?:am|pm|a\.m\.|p\.m\.)",
)

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_QUESTION_OPENING = _patterns(
    r"what", r"what's", r"how", r"why", r"when", r"where", r"who", r"which",
    r"do", r"does", r"did", r"is", r"are", r"was", r"were", r"can", r"could", r"would", r"will", r"should",
    r"have", r"has", r"tell me", r"walk me through", r"help me understand", r"describe",
)  # fmt: skip
_OPEN_QUESTION_WORDS = _patterns(
    r"what", r"what's", r"how", r"why", r"tell me", r"walk me through", r"help me understand", r"describe"
)
# Spoken questions often start with a discourse marker ("so um, how are you ...", "and what does ...").
_LEAD_IN = re.compile(r"^(?:(?:so|and|but|ok|okay|um+|uh+|well|right|now|alright|also|then|like|just|oh|hmm)"
                      r"(?!\w)[\s,]*)+")
# ... or come after a clause: "if this went well, what would good look like", "when you say that, do you ...",
# "understood, what problems are you running into", "your last check in was in june, so what happened".
_LATER_QUESTION = re.compile(
    r",\s*(?:(?:and|so|but|like|then)\s+)?(?:(?:what|how|who|why|where)(?:'s|'d|\s+(?:do|does|did|is|are|was|were"
    r"|would|will|could|can|should|has|have|else))|(?:do|does|did|is|are|can|could|would|have|has)\s+(?:you|we"
    r"|they|it|he|she|that|there)"
    r"|(?:what|which|how many|how much)(?:\s+[\w']+){1,2}\s+(?:do|does|did|are|were|would|will|could|can|have)"
    r"\s+(?:you|your|we|they)|(?:what|who) (?:made|happened|brought|led|changed))(?!\w)")
# "What we do is ...", "how I'd put it ...": the candidate describing themselves, not asking.
_NOT_A_QUESTION = re.compile(
    r"^(?:(?:what|how)\s+(?:i|we)(?:'\w+)?(?!\w)|(?:will|can) do(?!\w)|have a (?:good|great|nice)(?!\w))")
# A question pointing back at the buyer's last answer: "how is that affecting ...", "when you say ...".
_POINTS_BACK = re.compile(
    r"^(?:what|how|why|when|where|who)(?:'s|\s+(?:is|was|does|did|has|would|will|do))?\s+(?:that|it)(?!\w)(?!.*\bsound)"
    r"|(?<!\w)(?:when you say|you mentioned|you said)(?!\w)")
_LEADING_QUESTION = _patterns(
    r"wouldn't you agree", r"don't you (?:think|agree)", r"isn't it (?:true|fair)", r"wouldn't it be (?:great|nice)",
    r"you'd agree",
)

_TOPIC_PATTERNS: dict[Topic, re.Pattern[str]] = {
    Topic.PAIN: _patterns(
        r"problems?", r"challenges?", r"challenging", r"struggl\w*", r"pain\w*", r"frustrat\w*", r"issues?",
        r"bottlenecks?", r"headaches?", r"not working", r"keeps? you up", r"broken", r"manual(?:ly)?",
        r"losing", r"churn\w*", r"mistakes?", r"errors?", r"complain\w*", r"slow(?:s|ing|er)?", r"hard to",
        r"killing (?:us|me)", r"brutal", r"scramble", r"(?:costs?|costing) (?:us|you)", r"what (?:does|did) that cost",
        r"lost", r"lose", r"wast\w*", r"eat it", r"overtime", r"short[- ]?staffed", r"no[- ]shows?", r"downtime",
        r"falls apart", r"what (?:happens|happened|breaks|goes wrong)", r"when does it not work",
        r"(?:a )?bad (?:day|week|morning)", r"hit (?:with|by)", r"(?:goes|went|go|was|were|is) down", r"down for",
        r"by hand", r"outages?", r"downhill", r"inconsistent", r"unreliable",
    ),
    Topic.BUDGET: _patterns(
        r"budget\w*", r"(?:how much|what) (?:do|does|are|would|could) (?:you|they|we) (?:\w+ )?spend\w*",
        r"spend(?:ing)? (?:on|per|a year|a month|each)", r"invest\w*", r"funding", r"funds", r"allocated",
        r"set (?:\w+ )?aside",
        r"price range", r"cost of (?:the problem|doing nothing|that)", r"how much (?:do|would|could|can|are)",
        r"\$\s?\d[\d,.]*k?", r"\d+k", r"\d+ (?:thousand|million)", r"dollars", r"euros",
        _NUMBER + r" (?:hundred|thousand|million|grand)", r"money", r"carve[sd]? out", r"(?:a|the) line (?:item )?for",
    ),
    Topic.TIMELINE: _patterns(
        r"timelines?", r"time ?frames?", r"deadlines?", r"by when", r"how soon", r"urgen\w*",
        r"when (?:do|would|are|will|did) (?:you|we|they)", r"go[- ]live", r"launch\w*", r"roll ?out",
        r"(?:this|next|end of the) (?:quarter|month|year)", r"q[1-4]",
        r"(?:in|within|next) (?:a |the )?(?:few |couple of |two |three |\d+ )?(?:weeks?|months?)",
        r"why now", r"(?:priority|urgent) now", r"what's (?:driving|pushing|changed)", r"what (?:is|has) changed",
        r"hard date", r"(?:by|before|in|until) (?:january|february|march|april|june|july|august|september|october"
        r"|november|december)", r"renews?", r"before (?:peak|the season|year end)",
    ),
    Topic.DECISION_PROCESS: _patterns(
        r"decisions?", r"decide\w*", r"decision[- ]makers?", r"sign[- ]?off", r"signs off",
        r"who (?:reviews|approves)", r"approv\w*", r"who else",
        r"stakeholders?", r"procurement", r"buying process", r"evaluation process", r"board", r"committee",
        r"(?:my|your|the|our) (?:boss|manager|cfo|ceo|cto|vp|director|head of \w+)", r"legal review",
        r"weighs? in", r"final say", r"(?:who|what) (?:would|else) (?:be|gets?) involved", r"involved in",
        r"besides you", r"part of deciding", r"needs? to (?:bless|be comfortable)",
    ),
    Topic.SUCCESS_CRITERIA: _patterns(
        r"success\w*", r"measur\w*", r"metrics?", r"kpis?", r"goals?", r"outcomes?", r"targets?",
        r"look like (?:in|after|a year|\d+ days)", r"how (?:will|would) you know", r"what (?:would|does) good",
        r"win for you", r"what would (?:be different|change|make (?:you|her|him|them) happy)",
        r"(?:a year|\w+ months|\w+ days) from now", r"fast forward", r"(?:went|goes|go) really well",
    ),
}

_OBJECTION_PATTERNS: dict[ObjectionKind, re.Pattern[str]] = {
    ObjectionKind.PRICE: _patterns(
        r"too expensive", r"expensive", r"pricey", r"costs? too much", r"out of (?:our|my) (?:budget|price range)",
        r"(?:can't|cannot) (?:really |quite |just )?afford", r"price is (?:too )?high", r"too much money", r"cheaper",
        r"over (?:our|my|the) budget", r"more than (?:we|i) (?:expected|wanted|budgeted|can)",
    ),
    ObjectionKind.TIMING: _patterns(
        r"not (?:a good|the right) time", r"bad timing", r"too busy", r"not a priority", r"revisit",
        r"circle back", r"maybe next (?:quarter|year)", r"later this year", r"no bandwidth",
        r"in the middle of", r"take on another", r"not (?:really )?in a (?:rush|hurry)", r"(?:hiring )?freeze",
        r"not (?:hiring|buying|looking)", r"(?:contract|agreement) (?:renews|runs|is up)", r"just renewed",
        r"can't (?:sign|commit) (?:anything )?(?:this|right|until)",
    ),
    ObjectionKind.COMPETITOR: _patterns(
        r"already (?:use|using|work with|working with|have a vendor)", r"competitors?", r"another vendor",
        r"other vendors?", r"(?:looking at|evaluating) (?:other|alternatives|a few)", r"competitive quotes?",
        # "we already have a CRM" objects; "does it work with what we already have" asks about fit.
        r"already (?:have|got|pay for|paying for|tried)(?=\s+\w)", r"(?:use|have) the one that came with",
        r"we (?:already |actually )?(?:have|use) (?:a|an) (?:crm|tool|system|vendor|solution|provider|agency)",
        r"(?:built|wrote|have) (?:our own|some internal|internal|in[- ]house)",
        r"internal (?:scripts?|tools?|team|recruit\w*)",
        r"in[- ]house", r"looked at \w+(?: \w+)? (?:last year|before|a while ago)", r"the same thing",
        r"paying for (?:a couple|other|some|several) (?:of )?(?:other )?tools",
    ),
    ObjectionKind.RISK: _patterns(
        r"risky", r"too much risk", r"worried", r"concerned", r"nervous", r"not sure (?:it|this) (?:will|would)",
        r"burned before", r"been burned", r"disrupt\w*", r"what if it (?:fails|breaks|doesn't)",
        r"(?:my|the|our) (?:main |biggest |real )?(?:worry|concern)", r"hated", r"didn't work",
        r"(?:not gonna|won't|wouldn't|never gonna|will never) (?:even )?(?:use|adopt|touch)",
        r"not sure (?:the team|anyone|people|they) (?:would|will) (?:even )?(?:use|look|adopt)",
        r"not sure (?:\w+ ){0,3}(?:would|will) (?:be (?:ok|okay|fine)|go for|accept|approve|agree)",
        r"(?:i'd|we'd|i would|we would) have to (?:replace|fix|upgrade|redo|rebuild)",
        r"(?:don't|do not) (?:even )?know if (?:we|i)",
    ),
    ObjectionKind.AUTHORITY: _patterns(
        r"not my (?:decision|call)", r"not up to me", r"(?:check|talk|run (?:it|this)) (?:with|by) (?:my|our) \w+",
        r"needs? (?:approval|sign[- ]?off)", r"above my pay grade", r"the board (?:has|would) to",
        r"(?:talk|speak|check) (?:to|with) (?:the|my|our) (?:owner|boss|partners?|cfo|ceo|coo|board)",
    ),
    ObjectionKind.STATUS_QUO: _patterns(
        r"happy with (?:what we have|our current|the current|how)", r"works? fine", r"good enough",
        r"(?:don't|do not) (?:really )?need (?:this|that|it|a new)", r"we've always", r"never needed",
        r"(?:spreadsheets?|current (?:process|system|tool)) (?:works?|is fine|does the job)",
        r"happy with (?:it|them|that|our)", r"working (?:pretty |really |just )?(?:well|fine)",
        r"not sure (?:we|i) (?:really )?need",
        r"(?:don't|do not) want (?:it|this|that|any|an?|to (?:buy|change|switch))",
        r"haven't said i want", r"not interested",
    ),
}

_ACKNOWLEDGEMENT = _patterns(
    r"i (?:completely |totally |really )?(?:understand|hear you|get (?:it|that|why))", r"understandable",
    r"makes sense", r"(?:that's |that is )?fair", r"good point",
    r"valid (?:point|concern)", r"appreciate", r"i agree", r"you're right",
    r"i can see why", r"that's a (?:real|big|common|reasonable) (?:concern|challenge|question)",
    r"got it", r"gotcha", r"i hear (?:that|what you're saying)", r"fair enough", r"i bet", r"ouch", r"understood",
    r"i'd expect that",
    r"that's (?:really |very |so |pretty )?(?:helpful|painful|scary|tough|rough|real money|high|smart|common|serious)",
    r"(?:it's|that's) a (?:real|very fair|fair|good) (?:worry|concern|point|question)",
)
_PLAYBACK = _patterns(
    r"you mentioned", r"you said", r"what i'm hearing", r"if i understand", r"so it sounds like",
    r"sounds like", r"thanks for sharing", r"thank you for", r"that must be",
    r"when you say", r"if i'm doing the math right", r"so (?:that's|there's|it's) (?:a|an|the) \w+",
    r"so the \w+ (?:is|are|was|were)",
    r"what you (?:just )?(?:told me|gave me|said)",
)
# Waving away or arguing with what the buyer said: "yeah but ...", "that's just not true", "trust me".
_DISMISSAL = re.compile(
    r"^\W*(?:(?:yeah|yes|right|sure|ok|okay|totally|well|i know|i hear you|i get (?:it|that)|i understand"
    r"|a lot of (?:people|folks|companies) say that|i'm sure (?:it's|they're|you're) \w+|uh|um)\W+){1,4}but(?!\w)"
    r"|(?<!\w)(?:that's|that is) (?:just |simply )?not (?:true|right|how it works)|you're wrong|trust me"
    r"|don't worry about (?:that|it)|with (?:all due )?respect|no offense|i don't think you (?:understand|realize|get)"
    r"|you'll thank me|can't compete|you can (?:just )?get out of|(?:are|is) terrible")

# What a real answer to each objection mentions; a clarifying question also counts as addressing it.
_OBJECTION_ANSWERS: dict[ObjectionKind, re.Pattern[str]] = {
    ObjectionKind.PRICE: _patterns(
        r"roi", r"return", r"pays? for itself", r"pay ?back", r"sav\w*", r"value", r"cost of", r"per (?:month|seat)",
        r"pricing (?:options|tiers?)", r"payment", r"compared to", r"worth",
    ),
    ObjectionKind.TIMING: _patterns(
        r"pilot", r"phased?", r"start small", r"quick\w*", r"weeks?", r"cost of waiting", r"light ?weight",
        r"minimal (?:effort|time)", r"we (?:handle|do) (?:the|most)", r"when would",
    ),
    ObjectionKind.COMPETITOR: _patterns(
        r"differen\w*", r"unlike", r"compar\w*", r"integrat\w*", r"alongside", r"switch\w*", r"what do you like",
        r"side by side", r"better at", r"next to", r"in parallel", r"where (?:it|they) (?:struggle|fall|miss)\w*",
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
# Evidence answers any objection: a comparable customer's result, a reference, a no-risk way to try it.
_EVIDENCE = _patterns(
    r"(?:customers?|clients?|companies|teams) (?:\w+ ){0,4}" + _PERCENT, r"went from \w+(?: \w+)? to",
    r"put you in touch", r"(?:connect|get) you (?:with|to) (?:their|our|them)",
    r"talk to their", r"on the phone", r"references?", r"case stud\w*", r"write[- ]up",
    r"(?:had|have) the (?:exact )?same (?:worry|concern|problem)", r"pilot", r"trial", r"no commitment",
    r"(?:what we do|we do it|we're) differently", r"unlike",
    r"(?:clients?|customers?) (?:came|switched|moved) (?:to us )?from",
    r"(?:show|send) you (?:the |their |our )?(?:reports?|results|numbers|data)",
    r"read[- ]only", r"side by side", r"in parallel",
)
_CLARIFYING_QUESTION = _patterns(
    r"what's driving", r"what is driving", r"help me understand", r"what specifically", r"which part",
    r"what would (?:need to|make|it take)", r"compared to what", r"can i ask", r"what's behind",
    r"what happened", r"what (?:exactly|specifically) (?:did|was|is|do)",
    r"what did (?:they|you|the \w+) (?:like|hate|dislike)",
)

_VALUE_PATTERNS: dict[ValueTheme, re.Pattern[str]] = {
    ValueTheme.COST_SAVINGS: _patterns(
        r"sav(?:e|es|ed|ing|ings) (?:you )?(?:money|\$|costs?|budget)", r"cost savings?", r"cut (?:costs?|spend)",
        r"reduc\w* (?:costs?|spend)", r"roi", r"pays? for itself", r"lower (?:costs?|spend)",
        r"pays? back", r"payback", r"pays? for the (?:platform|tool|system)",
        r"(?:bring|brought|get|got|cut|drive|drove|push|pushed) (?:\w+ ){1,2}down",
        r"sav(?:e|es|ed|ing) (?:you |them )?(?:\w+ ){0,2}(?:hundred|thousand|million|grand)",
    ),
    ValueTheme.TIME_SAVINGS: _patterns(
        r"sav(?:e|es|ed|ing) (?:you |your team )?(?:\d+ )?(?:hours?|time|days?)", r"faster", r"hours (?:a|per) week",
        r"automat\w*", r"in minutes", r"instead of (?:days|hours|weeks)",
        r"less (?:work|paperwork|admin)",
        r"sav(?:e|es|ed|ing) (?:him|her|them|you) (?:the )?(?:\w+ ){0,3}(?:paperwork|work|time)",
        r"no (?:manual )?(?:exports?|re-?keying|double entry|paperwork)", r"in real time",
    ),
    ValueTheme.REVENUE_GROWTH: _patterns(
        r"(?:grow|increase|boost)\w* (?:revenue|sales|conversion|pipeline)", r"more (?:deals|revenue|customers)",
        r"win rates?", r"upsell", r"grow (?:their|your) book",
    ),
    ValueTheme.RISK_REDUCTION: _patterns(
        r"fewer (?:errors|mistakes|incidents|outages)", r"reduc\w* (?:risk|errors|incidents|churn)", r"complian\w*",
        r"downtime", r"(?:caught|catch|flag\w*) (?:\w+ ){0,6}before (?:it|they)",
        r"(?:the )?(?:exact )?scenario we stop",
        r"(?:stop|stops|block|blocks|prevent\w*) (?:\w+ ){0,2}(?:fraud|phishing|attacks?|failures?)",
        r"(?:no|fewer) (?:false alarms|surprises?|no[- ]shows)",
    ),
    ValueTheme.PROOF: _patterns(
        r"customers? like you", r"companies like yours", r"teams like yours", r"case stud\w*",
        r"(?:one|another) (?:of our )?(?:customers?|clients?)", r"went from \w+(?: \w+)? to",
        r"put you in touch", r"(?:had|have) the (?:exact )?same (?:worry|concern|problem)",
    ),
}

_NEXT_STEP = _patterns(
    r"schedule", r"book (?:a|an|the|some|it|in|you|us|them|time)", r"calendar invite",
    r"set up (?:a|the) (?:call|meeting|demo|time|trial|pilot)",
    r"(?:send|share) (?:you |over )?(?:a |the )?(?:proposal|quote|contract|agreement)", r"trial", r"pilot",
    r"follow[- ]up (?:call|meeting)", r"next (?:monday|tuesday|wednesday|thursday|friday|week)",
    r"(?:on|this) (?:monday|tuesday|wednesday|thursday|friday)", r"demo", r"next steps?",
)
# What a candidate proposes in speech is often just a day and a reason to meet.
_PROPOSAL = _patterns(
    _NEXT_STEP.pattern, _WEEKDAY, r"invites?", r"working session", r"(?:site|plant|office) (?:visit|walk)",
    r"come (?:out|by|to|walk|see)", r"(?:lock|pencil|put) (?:you |it )?(?:in|down)", r"touch base", r"follow up",
    r"(?:set up|book|schedule|grab|have|arrange) (?:a |another |the )?(?:\w+ ){0,2}(?:meeting|call|chat)",
    # "a quick call", "a short meeting", "a fifteen minute chat", "fifteen minutes next week": time asked for later,
    # not "a few minutes of your time" now.
    r"(?:a|another) (?:quick|short|brief|proper|video|phone|zoom|(?:\w+|\d+)[- ]minute) (?:call|chat|meeting"
    r"|conversation|session|look)", r"(?:\w+|\d+) minutes (?:with (?:you|your|the|them)|next|this|on|tomorrow|later)",
    r"(?:let's|can we|could we|shall we) (?:meet|get together|talk again)", r"kick ?off", r"(?:an|one) hour",
    r"(?:try|test) (?:it|this) (?:out|first)",
    r"put together a (?:proposal|quote)",
    # The seller's own next move: "I'll call you both", "get you an offer by tomorrow".
    r"(?:i'll|i will|we'll) (?:\w+ ){0,3}(?:call|ring|phone) you",
    r"(?:get|have) you (?:an?|the|our|your) (?:\w+ )?(?:offer|proposal|quote|figures?|price|numbers)"
    r" (?:by|tomorrow|today|on|this|next)",
    r"(?:send|email) (?:you |over )?(?:the |these |those )?(?:profiles|agreement|contract|paperwork)",
)
_AGREEMENT = _patterns(
    r"yes", r"yeah", r"sure", r"sounds good", r"works for me", r"that works", r"let's do (?:it|that)",
    r"deal", r"send (?:me |it |over )?(?:the |an? )?(?:invite|calendar\w*)", r"happy to", r"book it", r"go ahead",
    r"okay", r"ok", r"perfect", r"alright", r"all right", r"let's (?:meet|talk|book|schedule|set|plan)",
    r"certainly", r"definitely", r"absolutely", r"of course",
)
# In reply to a proposal, shorter answers agree too: "Tuesday works", "ten is ok", "I'll loop Tom in".
_AGREEMENT_TO_PROPOSAL = _patterns(
    _AGREEMENT.pattern, r"works", r"is (?:ok|okay|fine)", r"i'll (?:loop|pull|bring) \w+ in", r"see you (?:then|there)",
)
# The buyer deciding to buy, whatever was asked: "ok, send the invoice, we'll go ahead", "wrap it up, I'll take it".
_BUYS = _patterns(
    r"we'll (?:go ahead|sign|take it|find the money)", r"i'll take (?:it|them)", r"let's (?:go|do it|go ahead)",
    r"(?:send|write) (?:me |us |you |him |her )?(?:the|an?) (?:invoice|contract|check|cheque)", r"ready to go ahead",
    r"(?:sign|signing) (?:it )?today", r"wrap it up", r"you've got a deal", r"(?:i'm|we're) (?:in|on board)",
)
# A question asking when the step happens: asking it is agreeing to the step; asking anything else about it ("how
# would the pilot work") is still weighing it.
_ASKS_WHEN = _patterns(r"when", r"how (?:soon|fast|quickly)", r"what (?:time|day|date)")
# A clear no: pressing on after one is pushing.
_REFUSAL = _patterns(
    r"no thanks", r"don't think so", r"not interested", r"(?:don't|do not) want", r"please don't", r"take me off",
    r"(?:have|got) to go", r"haven't (?:said|agreed)", r"not listening", r"stop you there", r"can't (?:sign|commit)",
    r"not (?:hiring|buying|looking)",
)
# A no, or a soft brush-off that leaves nothing agreed.
_DECLINE = _patterns(
    _REFUSAL.pattern, r"not ready", r"hold off", r"i'll think about it", r"let me think", r"not (?:right )?now",
    r"maybe later", r"send me some information", r"maybe", r"i don't know", r"we'll see", r"i guess",
    r"look at my calendar", r"i'll reach out",
    r"(?:send|email) me (?:an email|something|some info\w*|more info\w*|details)", r"possibly", r"perhaps",
    r"first i (?:need|have|want)",
    r"not sure (?:we|i) need",
)
_OPENING_NO = re.compile(r"^\W*no(?!\w)(?!\s+(?:worries|problem))")
# A buyer sentence broken off mid-way by the candidate: it ends on a word nobody ends a sentence on.
_CUT_OFF = re.compile(r"(?<!\w)(?:a|an|the|to|of|for|with|and|or|my|our|your|their|because|is|are|was)\s*$")

_CONTENT_WORD = re.compile(r"[a-z0-9']+")
_STOPWORDS = frozenset("""
about actually after again also always another anyone anything because been before being can't could didn't doesn't
doing done don't each even every everyone everything exactly gonna going good great guys have hello here honestly i'll
i'm i've i'd isn't it's just kind know let's like look looking looks lots make many maybe mean month more most much
need never okay other over please pretty really right said should some someone something sort sound sounds still such
sure tell thank thanks than that that's their them then there there's these they they're thing things think this those
time today totally want wasn't we'd we'll we're we've well were what what's when where which while will with won't
would would've yeah year years your you'd you'll you're yours week weeks
""".split())
# Shared content words with the buyer that make a statement about the buyer rather than about the product.
TAILORED_OVERLAP = 3
# Consecutive short comma-separated items in one sentence that make a feature list.
FEATURE_LIST_ITEMS = 4
FEATURE_ITEM_WORDS = 6


class TurnText(coaching.CoachedText):
    """A turn's text as the measures read it (normalised, lower case, as the patterns are written), each finding made
    when it is first asked for and then kept: a turn read by several measures (a reading's window and the part of it
    the previous reading had counted, the next reading's window) is searched once. It is read with one language's
    ``phrases``, and its findings are theirs."""

    def __init__(self, spoken: str, phrases: Phrases) -> None:
        super().__init__(normalise(spoken).lower(), partial(_questions, phrases=phrases), phrases.coaching)
        self._spoken = spoken
        self.phrases = phrases

    @cached_property
    def spoken_words(self) -> int:  # counted as it was said, as monologues are
        return words(self._spoken)

    @cached_property
    def words(self) -> int:
        return words(self.text)

    @cached_property
    def grams(self) -> tuple[str, ...]:  # what the sales factors' learned reading weighs, read as it was said
        return grams(self._spoken)

    @cached_property
    def open_questions(self) -> int:
        # "Before I design anything, what ..." is still open: look past a leading clause.
        return sum(1 for question in self.questions if self.phrases.open_question.search(question))

    @cached_property
    def points_back(self) -> bool:
        p = self.phrases
        return any(p.points_back.search(p.lead_in.sub("", question)) for question in self.questions)

    @cached_property
    def topics_asked(self) -> frozenset[Topic]:
        return frozenset(topic for topic, pattern in self.phrases.topics.items()
                         if any(pattern.search(question) for question in self.questions))

    @cached_property
    def topics_told(self) -> frozenset[Topic]:
        return frozenset(topic for topic, pattern in self.phrases.topics.items() if pattern.search(self.text))

    @cached_property
    def value_themes(self) -> frozenset[ValueTheme]:
        return frozenset(theme for theme, pattern in self.phrases.value.items() if pattern.search(self.text))

    @cached_property
    def content(self) -> frozenset[str]:
        return frozenset(self.phrases.content(self.text))

    @cached_property
    def feature_list(self) -> bool:
        return _feature_list(self.text, self.phrases.list_joiner)

    @cached_property
    def dismisses(self) -> bool:
        return bool(self.phrases.dismissal.search(self.text))

    @cached_property
    def hears(self) -> bool:  # acknowledges or plays back what the buyer said
        return bool(self.phrases.acknowledgement.search(self.text) or self.phrases.playback.search(self.text))

    @cached_property
    def listens(self) -> bool:
        # "Yeah, I hear you, but ..." acknowledges only to argue.
        return self.hears and not self.dismisses

    @cached_property
    def leads(self) -> bool:
        return bool(self.phrases.leading_question.search(self.text))

    @cached_property
    def cut_off(self) -> bool:
        return bool(self.phrases.cut_off.search(self.text))

    @cached_property
    def objection_kinds(self) -> tuple[ObjectionKind, ...]:
        return tuple(kind for kind, pattern in self.phrases.objections.items() if pattern.search(self.text))

    @cached_property
    def kinds_answered(self) -> frozenset[ObjectionKind]:  # what a real answer to each kind mentions
        return frozenset(kind for kind, pattern in self.phrases.objection_answers.items() if pattern.search(self.text))

    @cached_property
    def evidence(self) -> bool:
        return bool(self.phrases.evidence.search(self.text))

    @cached_property
    def clarifies(self) -> bool:
        return bool(self.phrases.clarifying_question.search(self.text))

    @cached_property
    def proposes(self) -> bool:
        return bool(self.phrases.proposal.search(self.text))

    @cached_property
    def says_no(self) -> bool:
        return bool(self.phrases.refusal.search(self.text) or self.phrases.opening_no.match(self.text))

    @cached_property
    def declines(self) -> bool:
        return bool(self.phrases.decline.search(self.text) or self.phrases.opening_no.match(self.text))

    @cached_property
    def agrees_to_proposal(self) -> bool:
        return bool(self.phrases.agreement_to_proposal.search(self.text))

    @cached_property
    def agrees_to_step(self) -> bool:
        return bool(self.phrases.agreement.search(self.text) and self.phrases.next_step.search(self.text))

    @cached_property
    def names_time(self) -> bool:
        return bool(self.phrases.date_time.search(self.text))

    @cached_property
    def buys(self) -> bool:
        return bool(self.phrases.buys.search(self.text))

    @cached_property
    def still_asking(self) -> bool:
        """The turn ends on a question that is not about when: the buyer is still weighing what was proposed."""
        last = _SENTENCE_END.split(self.text)[-1].strip()
        return (bool(self.questions) and self.questions[-1] == last
                and not (self.phrases.asks_when.search(last) or self.phrases.date_time.search(last)))

    @cached_property
    def requests_step(self) -> bool:
        """The turn asks for a next step: "could we meet tomorrow at ten to sign", "can we try it first"."""
        return any(self.phrases.proposal.search(question) for question in self.questions)


TurnTexts = MutableMapping[str, TurnText]  # turn texts already read, by what was said


def turn_text(spoken: str, read: TurnTexts, phrases: Phrases) -> TurnText:
    """The text as the measures read it with ``phrases``: the one in ``read`` if it was read before with them, else
    read now and put in ``read`` (in place of one read with another language's: a call's language can settle late)."""
    text = read.get(spoken)
    if text is None or text.phrases is not phrases:
        text = read[spoken] = TurnText(spoken, phrases)
    return text


def measure(turns: Iterable[Turn], refusals_before: int = 0, read: TurnTexts | None = None,
            phrases: Phrases | None = None) -> ConversationMetrics:
    """Measure a window of turns, in sequence order whatever order they come in (``refusals_before``: the noes the
    buyer said earlier in the call, for a window that does not start at its beginning; ``read``: turn texts read
    by earlier measures, to which those read now are added; ``phrases``: those of the call's language, English's by
    default)."""
    read = {} if read is None else read
    phrases = phrases or ENGLISH
    ordered = sorted(turns, key=lambda turn: turn.sequence)
    texts = [turn_text(turn.text, read, phrases) for turn in ordered]
    candidate = [text for turn, text in zip(ordered, texts, strict=True) if turn.role == Role.USER]
    persona = [text for turn, text in zip(ordered, texts, strict=True) if turn.role == Role.ASSISTANT]
    candidate_words = sum(text.words for text in candidate)
    persona_words = sum(text.words for text in persona)
    total_words = candidate_words + persona_words
    questions = sum(len(text.questions) for text in candidate)
    longest, candidate_longest = _monologues(ordered, texts)
    proposed, committed, dated, pushes = _next_step(ordered, texts)
    objections = _objections(ordered, texts)
    handled = {objection.sequence for objection in objections if objection.handled}
    answers = {ordered[index + 1].sequence for index, turn in enumerate(ordered[:-1]) if turn.sequence in handled}
    followups, tailored, dumps = _engagement(ordered, texts, answers)
    coached = coaching.coach(ordered, texts, _speaks_to, refusals_before)
    return ConversationMetrics(
        turn_count=len(ordered),
        candidate_turns=len(candidate),
        persona_turns=len(persona),
        candidate_talk_ratio=candidate_words / total_words if total_words else 0.0,
        persona_talk_ratio=persona_words / total_words if total_words else 0.0,
        candidate_questions=questions,
        candidate_open_questions=sum(text.open_questions for text in candidate),
        candidate_question_rate=questions / len(candidate) if candidate else 0.0,
        candidate_words_per_turn=candidate_words / len(candidate) if candidate else 0.0,
        persona_words_per_turn=persona_words / len(persona) if persona else 0.0,
        longest_monologue=longest,
        candidate_longest_monologue_words=candidate_longest,
        # Asked by the candidate, or told by the persona: either way the topic is on the table.
        topics_covered=frozenset().union(*(text.topics_asked for text in candidate),
                                         *(text.topics_told for text in persona)),
        objections=tuple(objections),
        listening_signals=sum(text.listens for text in candidate),
        value_themes=frozenset().union(*(text.value_themes for text in candidate)),
        value_statements=sum(bool(text.value_themes) for text in candidate),
        next_step_proposed=proposed,
        next_step_committed=committed,
        followup_questions=followups,
        leading_questions=sum(text.leads for text in candidate),
        tailored_value_statements=tailored,
        feature_dumps=dumps,
        dismissals=sum(text.dismisses for text in candidate),
        pushes_after_decline=pushes,
        interruptions=sum(
            1 for index, turn in enumerate(ordered[:-1])
            if turn.role == Role.ASSISTANT and ordered[index + 1].role == Role.USER and texts[index].cut_off
        ),
        next_step_dated=dated,
        candidate_words=candidate_words,
        persona_words=persona_words,
        sales_terms=SALES_WORDS.term_counts((turn.role, text.grams) for turn, text in zip(ordered, texts, strict=True))
        if phrases is ENGLISH else None,
        **dataclasses.asdict(coached),
    )


def _questions(text: str, phrases: Phrases) -> list[str]:
    sentences = (sentence.strip() for sentence in _SENTENCE_END.split(text))
    return [s for s in sentences if s and _is_question(s, phrases)]


def _is_question(sentence: str, p: Phrases) -> bool:
    if p.leading_question.search(sentence):
        return False  # a statement asking for agreement, not for information
    if sentence.endswith("?"):
        return True
    body = p.lead_in.sub("", sentence)
    if p.not_a_question.match(body):
        return bool(p.later_question.search(body))
    return bool(p.question_opening.match(body) or p.later_question.search(body))


def _monologues(ordered: Sequence[Turn], texts: Sequence[TurnText]) -> tuple[Monologue, int]:
    # Speech-to-text splits one long answer into several messages, so a run of one speaker is one monologue.
    longest = Monologue(role=None, words=0)
    candidate_longest = 0
    run_role: Role | None = None
    run_words = 0
    for turn, text in zip(ordered, texts, strict=True):
        run_words = run_words + text.spoken_words if turn.role == run_role else text.spoken_words
        run_role = turn.role
        if run_words > longest.words:
            longest = Monologue(role=run_role, words=run_words)
        if run_role == Role.USER:
            candidate_longest = max(candidate_longest, run_words)
    return longest, candidate_longest


def _stem(word: str) -> str:
    word = word.removesuffix("'s")
    for suffix in ("ing", "ed", "es", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _content(text: str) -> set[str]:
    return {_stem(word) for word in _CONTENT_WORD.findall(text) if len(word) >= 4 and word not in _STOPWORDS}


_LIST_JOINER = re.compile(r"^\s*(?:and|or|plus)\s+")


def _feature_list(text: str, joiner: re.Pattern[str]) -> bool:
    for sentence in _SENTENCE_END.split(text):
        run = 0
        for item in sentence.split(","):
            size = len(joiner.sub("", item).split())
            run = run + 1 if 0 < size <= FEATURE_ITEM_WORDS else 0
            if run >= FEATURE_LIST_ITEMS:
                return True
    return False


def _engagement(ordered: Sequence[Turn], texts: Sequence[TurnText], answers: set[int]) -> tuple[int, int, int]:
    """Follow-up questions, value statements tailored to the buyer, and feature lists, in the candidate's turns.

    A value statement is tailored when it is built on the buyer's own words, or answers the buyer's objection
    (``answers``: the sequences of the candidate turns that handled one), and claims no rate the buyer never gave."""
    followups = tailored = dumps = 0
    heard: set[str] = set()  # everything the buyer has said so far in the window
    said: set[str] = set()  # ... word for word, for the figures the buyer gave
    last: frozenset[str] = frozenset()  # the buyer's latest turn
    for turn, text in zip(ordered, texts, strict=True):
        content = text.content
        if turn.role == Role.ASSISTANT:
            heard |= content
            said |= text.word_set
            last = content
            continue
        if text.questions and (content & last or text.points_back):
            followups += 1
        if text.feature_list:
            dumps += 1
        elif ((len(content & heard) >= TAILORED_OVERLAP or turn.sequence in answers) and not text.dismisses
              and text.value_themes and not text.hypes(said)):
            tailored += 1
    return followups, tailored, dumps


def _objections(ordered: Sequence[Turn], texts: Sequence[TurnText]) -> list[Objection]:
    objections = []
    for index, turn in enumerate(ordered):
        if turn.role != Role.ASSISTANT:
            continue
        reply = texts[index + 1] if index + 1 < len(ordered) and ordered[index + 1].role == Role.USER else None
        for kind in texts[index].objection_kinds:
            objections.append(Objection(turn.sequence, kind, reply is not None and _answers(kind, reply)))
    return objections


def _answers(kind: ObjectionKind, reply: TurnText) -> bool:
    if reply.dismisses:
        return False  # arguing is not answering
    acknowledged = reply.hears or reply.clarifies
    addressed = kind in reply.kinds_answered or reply.evidence or reply.clarifies
    return acknowledged and addressed


def _speaks_to(objection: TurnText, reply: TurnText) -> bool:
    """Whether the reply answers what the objection is about (its kind's answers), without arguing."""
    return not reply.dismisses and any(kind in reply.kinds_answered for kind in objection.objection_kinds)


def _next_step(ordered: Sequence[Turn], texts: Sequence[TurnText]) -> tuple[bool, bool, bool, int]:
    """Whether a next step was proposed, agreed, and agreed with a day or time; and how often it was pressed
    right after the buyer said no."""
    proposed = committed = dated = False
    pushes = 0
    for index, (turn, text) in enumerate(zip(ordered, texts, strict=True)):
        previous = texts[index - 1] if index > 0 else _SILENCE
        previous_role = ordered[index - 1].role if index > 0 else None
        if turn.role == Role.USER:
            if text.proposes:
                proposed = True
                if previous_role == Role.ASSISTANT and _refuses_step(ordered, texts, index - 1) and not text.clarifies:
                    pushes += 1
            # A step the buyer asked for and the seller confirmed is agreed as much as one the seller proposed.
            asked = previous_role == Role.ASSISTANT and previous.requests_step
            if asked and text.agrees_to_proposal and not text.declines:
                committed = True
                dated = dated or previous.names_time or text.names_time
            continue
        previous_proposed = previous_role == Role.USER and previous.proposes
        if text.declines:
            if previous_proposed:
                committed = dated = False  # the buyer's latest word on the step is no
            continue
        # The persona agrees to a concrete step it names itself or the candidate just proposed; naming a day in
        # answer to a proposal ("Monday the twentieth?") is agreeing to it.
        agrees = ((previous_proposed and text.agrees_to_proposal) or text.agrees_to_step) and not text.still_asking
        counters = previous_proposed and text.names_time
        if agrees or counters or text.buys:
            committed = True
            dated = dated or text.names_time or (previous_proposed and previous.names_time)
    return proposed, committed, dated, pushes


def _refuses_step(ordered: Sequence[Turn], texts: Sequence[TurnText], index: int) -> bool:
    """Whether the buyer's turn at ``index`` says no to the offer: a refusal, or a bare "no" to a step the seller had
    proposed; "no, the mortgage was paid off" answers a question about the buyer and refuses nothing."""
    text = texts[index]
    if not text.says_no:
        return False
    asked_for_step = index > 0 and ordered[index - 1].role == Role.USER and texts[index - 1].proposes
    return asked_for_step or bool(text.phrases.refusal.search(text.text))


def objection_kinds(text: str, phrases: Phrases | None = None) -> set[ObjectionKind]:
    """The kinds of objection a sentence voices, as the live measures would find them (``phrases``: those of the
    call's language, English's by default)."""
    lowered = normalise(text).lower()
    return {kind for kind, pattern in (phrases or ENGLISH).objections.items() if pattern.search(lowered)}


def content_words(text: str, phrases: Phrases | None = None) -> set[str]:
    """The stems of a text's content words, to tell whether two texts speak of the same thing."""
    return (phrases or ENGLISH).content(normalise(text).lower())


@dataclass(frozen=True, slots=True)
class Phrases:
    """What the measures listen for in one language: patterns on normalised, lower-cased text, as the English ones
    of this module are written. A call's measures are read with the phrases of its language."""

    question_opening: re.Pattern[str]  # a sentence opening that asks, punctuated or not
    open_question: re.Pattern[str]
    lead_in: re.Pattern[str]  # discourse markers before a question, removed before its opening is read
    later_question: re.Pattern[str]  # a question after a clause
    not_a_question: re.Pattern[str]  # openings that describe rather than ask
    points_back: re.Pattern[str]  # a question about the buyer's last answer
    leading_question: re.Pattern[str]
    topics: dict[Topic, re.Pattern[str]]
    objections: dict[ObjectionKind, re.Pattern[str]]
    acknowledgement: re.Pattern[str]
    playback: re.Pattern[str]
    dismissal: re.Pattern[str]
    objection_answers: dict[ObjectionKind, re.Pattern[str]]
    evidence: re.Pattern[str]
    clarifying_question: re.Pattern[str]
    value: dict[ValueTheme, re.Pattern[str]]
    next_step: re.Pattern[str]
    proposal: re.Pattern[str]
    agreement: re.Pattern[str]
    agreement_to_proposal: re.Pattern[str]
    buys: re.Pattern[str]
    asks_when: re.Pattern[str]  # a question about when a step happens
    refusal: re.Pattern[str]
    decline: re.Pattern[str]
    opening_no: re.Pattern[str]
    cut_off: re.Pattern[str]
    date_time: re.Pattern[str]
    list_joiner: re.Pattern[str]  # the conjunction before a list's last item
    content: Callable[[str], set[str]]  # a text's content words, reduced to a common form
    coaching: coaching.CoachingPhrases


ENGLISH = Phrases(
    question_opening=_QUESTION_OPENING, open_question=_OPEN_QUESTION_WORDS, lead_in=_LEAD_IN,
    later_question=_LATER_QUESTION, not_a_question=_NOT_A_QUESTION, points_back=_POINTS_BACK,
    leading_question=_LEADING_QUESTION, topics=_TOPIC_PATTERNS, objections=_OBJECTION_PATTERNS,
    acknowledgement=_ACKNOWLEDGEMENT, playback=_PLAYBACK, dismissal=_DISMISSAL, objection_answers=_OBJECTION_ANSWERS,
    evidence=_EVIDENCE, clarifying_question=_CLARIFYING_QUESTION, value=_VALUE_PATTERNS, next_step=_NEXT_STEP,
    proposal=_PROPOSAL, agreement=_AGREEMENT, agreement_to_proposal=_AGREEMENT_TO_PROPOSAL, buys=_BUYS,
    asks_when=_ASKS_WHEN, refusal=_REFUSAL, decline=_DECLINE, opening_no=_OPENING_NO, cut_off=_CUT_OFF,
    date_time=_DATE_TIME,
    list_joiner=_LIST_JOINER, content=_content, coaching=coaching.ENGLISH,
)

_SILENCE = TurnText("", ENGLISH)  # before the first turn
