"""What a sales coach listens for beyond topics and keywords: how the seller meets the buyer's hesitations, whether
the questions are about the buyer, whether the seller plays back what was said, builds value on the buyer's own
words, and takes a no gracefully. Pure text rules on lower-cased, normalised turns, like ``conversation``.

A hesitation is any buyer turn that objects, stalls or says no: a formal objection (price, timing, a competitor...),
a brush-off ("I'm not really interested", "I really don't have time"), a stall ("we'd like to shop around"), or a
refusal. The seller's next turn is graded as a coach grades it (``HANDLING_POINTS``): exploring it with a question
or a graceful check of fit is best, specifics come next, a bare discount is weak, and ignoring it, arguing or
pressing on after a no earn nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from analysis_svc.domain.patterns import whole_words as _patterns
from calls.turns import Role, Turn

# Points for the seller's answer to a hesitation, 0-4 as the rubric's dimensions are scored.
EXPLORED, SPECIFIC, ACKNOWLEDGED, CONCEDED, IGNORED = 4, 3, 2, 1, 0
MAX_POINTS = EXPLORED


_NUMBER_WORDS = (r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty"
                 r"|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|half|double|twice)")

# A customer asking to leave: "I'd like to cancel", "just cancel it", "have this disconnected".
_LEAVING = (r"(?:want|like|need|going|have) to (?:cancel|disconnect|leave)|(?:cancel|disconnect) (?:it|my|the|this|our)"
            r"|(?:have|get) (?:it|this|them) (?:cancel|disconnect)\w*")
# The buyer holding back: objections, stalls, brush-offs and refusals.
_HESITATION = _patterns(
    r"not (?:really |that |very )?interested", r"(?:don't|do not) (?:really )?(?:have|got) (?:the )?time",
    r"(?:don't|do not) (?:really )?(?:need|want|care)", r"no (?:thanks|thank you)",
    r"not (?:open|ready|there) (?:to|for|yet)",
    r"not (?:sure|convinced)", r"unsure", r"(?:shop|look) around", r"think (?:about|it over|on it)", r"pray on it",
    r"(?:going to|gonna|we'll|i'll|we're going to) pass", _LEAVING, r"no point",
    r"heard (?:\w+ ){0,2}(?:like that|before)", r"too (?:high|much|expensive|pricey|big)", r"expensive",
    r"(?:more|higher) than (?:we|i|what)", r"twice what", r"above (?:what|our|my)", r"(?:can't|cannot) (?:pay|afford)",
    r"worried", r"concern\w*", r"nervous", r"sounds like a lot", r"a lot of (?:money|work)", r"irritat\w*",
    r"call me (?:back )?(?:in|next|later)", r"(?:send|email) me (?:some |the |more )?(?:info\w*|pricing|details)",
    r"something (?:a bit |a little )?lower", r"need more (?:than that|on price)", r"call someone else",
    # "We already have one" holds back; "does it work with the CRM we already have" asks how it fits.
    r"(?:happy|fine) with (?:our|what|the)", r"(?:already|currently) (?:have|use|using|work with)(?=\s+\w)",
    r"not (?:a good|the right) time", r"bad timing", r"too busy", r"not a priority", r"maybe (?:later|next)",
    r"isn't (?:really )?what (?:i|we) need", r"not what (?:i|we) need", r"(?:i|we) (?:don't|do not) think so",
    r"not (?:right )?now", r"let me think", r"hold off", r"(?:talk|check) (?:to|with) my",
)
# A clear no, after which pressing on is pushing.
_REFUSAL = _patterns(
    r"not (?:really |that )?interested", r"no (?:thanks|thank you)", r"(?:don't|do not) (?:care|want)",
    _LEAVING, r"(?:going to|gonna|we'll|we're going to) pass", r"take (?:it|me|this) off",
    r"not open to", r"take (?:me|us|this number) off", r"hangs? up", r"(?:i'm|we're) (?:done|going|leaving)",
)
# The seller waving the hesitation away or arguing with it.
_ARGUES = _patterns(
    r"^\W*(?:(?:yeah|yes|right|sure|ok|okay|well|i know|i hear you|i get (?:it|that)|i understand)\W+){1,3}but",
    r"why (?:would|wouldn't|won't) you", r"explain (?:to me )?why", r"you don't even know", r"trust me",
    r"that's (?:just |simply )?not (?:true|right)", r"you're wrong", r"(?:you|we) (?:have|need) to let me",
    r"you won't let me", r"not like anyone else", r"come on",
)
# Pressing for a yes or a sale.
_PRESSES = _patterns(
    r"take that as a yes", r"is that a yes", r"sign (?:you|it) up", r"(?:do i|can i) have your permission",
    r"(?:sign|order) today", r"the good news", r"keeps? (?:going|pushing|trying|talking)", r"carries on",
)
_ACKNOWLEDGES = _patterns(
    r"i (?:completely |totally |really )?(?:understand|hear you|get (?:it|that|why))", r"understood", r"understandable",
    r"makes sense", r"fair(?: enough| point| question)?", r"i appreciate", r"appreciate (?:that|it|you)", r"ouch",
    r"no problem", r"that's (?:ok|okay|fine|alright)", r"i can see why", r"you're right", r"sorry",
    r"i get why", r"that sounds (?:rough|hard|tough|painful|frustrating)", r"no worries",
    r"thanks for (?:being|telling)",
)
# A graceful check after a no, or a question that looks behind the hesitation.
_EXPLORES = _patterns(
    r"(?:timing|time) or", r"or (?:is it|are you|just) (?:not )?(?:a )?fit", r"not a fit",
    r"what (?:would|will) (?:it|need to)", r"what's (?:behind|driving|going to tip)", r"help me understand",
    r"what (?:did|do|were) you (?:have in mind|expect\w*)",
    r"(?:is there|what's the) (?:one )?(?:part|piece|thing)", r"what made", r"what do you (?:have in mind|mean|want)",
    r"meaning what", r"when you say", r"does that mean", r"what happens (?:then|if)", r"is it fair to say",
    r"can i ask", r"what (?:had|have) you set aside", r"what (?:is|was) (?:it|that) (?:you|for)",
    r"what are you (?:looking|hoping)", r"what (?:would|could) (?:make|change)",
    # A customer leaving asked why: "what's the reason", "is something wrong", "what happened".
    r"what's the reason", r"(?:is|was) (?:something|anything) wrong", r"what (?:happened|went wrong)",
)
# A question pointing back at what the buyer just said ("why is that", "how come") or inviting them to say more
# ("can you walk me through ...", "tell me about ..."), rather than collecting a fact ("how big is the team").
_OPENS_UP = _patterns(r"that", r"this", r"it", r"so", r"come", r"mean", r"why", r"tell me", r"(?:walk|talk) me through",
                      r"say more")
HESITATION_CLAUSE_WORDS = 8  # words after a hesitation's phrase that say what it is about
_FIT_CHECK = _patterns(r"(?:timing|time) or", r"or (?:is it|are you|just) (?:not )?(?:a )?fit", r"not a fit",
                      r"is it fair to say", r"is that what you'd like")
_EXITS = _patterns(
    r"sorry to (?:have )?bother\w*", r"thanks? (?:you )?(?:so much )?for your time", r"i'll let you go",
    r"if anything (?:changes|comes up|comes to mind)", r"(?:give|leave) you my (?:number|card|details)",
    r"have a (?:good|great|nice) (?:day|one|evening)", r"oh ok,? thank you", r"no problem",
)
# Proof and ways to try it that answer a doubt; a bare figure is a claim, not proof.
_PROOF = _patterns(
    r"guarantee\w*", r"pilot", r"trial", r"references?", r"case stud\w*", r"put you in touch", r"break even",
    r"pays? for itself", r"(?:customers?|clients?|companies) (?:like|similar to|with (?:an? )?\w+ like)",
    r"credit\w*", r"no (?:extra|charge)", r"included", r"week (?:one|two|by week)", r"step by step",
    r"money back", r"walk away", r"here's (?:a|the) report",
)
_FIGURE = _patterns(_NUMBER_WORDS)
# A concession traded for something rather than given away: "only if you train fewer people".
_TRADES = _patterns(r"only if", r"if you (?:can|could|were to|want to|agree|sign|commit)", r"in (?:return|exchange)",
                    r"(?:as long as|provided) (?:you|we)")
_DISCOUNTS = _patterns(
    r"discount\w*", r"\w+ (?:percent |%)?off", r"cheaper", r"lower (?:rate|price|monthly)", r"waive\w*",
    r"no payments?", r"knock", r"(?:bring|brings) (?:it|the price|your rate) down", r"i can do (?:it|this) for",
    r"let you have it", r"as low as",
)
# Questions that ask for a decision or a date rather than about the buyer: "when should i follow up".
_CLOSING_QUESTION = _patterns(
    r"take that as", r"is that a yes", r"sign (?:you|it) up", r"your permission",
    r"(?:does|would) \w+day (?:work|suit)",
    r"what's stopping us", r"shall i", r"want me to", r"would you like (?:me|a|to see)", r"can i (?:send|book|set)",
    r"you don't mind if", r"(?:when|good time)(?: \w+){0,3} follow up", r"give you a call",
    r"call you (?:back|next|in|on|tomorrow)",
)
_ABOUT_BUYER = _patterns(r"you", r"your", r"you're", r"you've", r"you'd", r"yours", r"your team", r"y'all")
_OPEN = _patterns(r"what", r"what's", r"how", r"why", r"tell me", r"walk me through", r"help me understand",
                  r"describe", r"where", r"which", r"who")
# Playing back what the buyer said: "let me play it back", "so that's fourteen hours", "is that right".
_PLAYBACK = _patterns(
    r"play (?:it|that) back", r"let me (?:make sure|check) i", r"is that (?:right|fair|correct)", r"did i get that",
    r"so (?:it|that) (?:sounds|means)", r"sounds like", r"if i (?:understand|heard|followed)", r"what i'm hearing",
    r"you mentioned", r"you said", r"so (?:for you )?(?:the|your) \w+ (?:is|are)", r"so (?:that's|thats) ",
    r"correct\?", r"when you say",
)
_OUTCOME = _patterns(
    r"sav\w*", r"cut\w*", r"faster", r"less", r"fewer", r"more", r"return", r"roi", r"pays? (?:for itself|back)",
    r"break even", r"worth", r"costs? you", r"gain", r"instead of", r"fix\w*", r"solv\w*", r"so you (?:can|don't)",
    r"that's (?:what|where|exactly)", r"built (?:the product )?for",
    # Sparing the buyer what they said weighs on them: "you don't have to clear your mum's things", "the bills stop".
    r"(?:don't|won't|never) (?:have|need) to", r"no (?:need|more)", r"nobody has to", r"stops?", r"easier",
    r"takes? (?:a|the) (?:weight|load) off",
)
# What a claimed rate rests on besides the seller's word: customers like the buyer's ("we've helped similar companies
# cut ... by seventy five percent"); proof and trials (``_PROOF``) count too.
_COMPARABLE = _patterns(r"(?:similar|comparable) (?:companies|customers|clients|teams|firms)",
                        r"(?:customers?|clients?|companies|teams) (?:like|similar to) (?:you|yours|your \w+)")
# A gain claimed as a rate: "a three hundred percent return", "cuts manual work by eighty percent", "10x faster"; not a
# share of a price ("seventy to eighty five percent of market value").
_RATE = _NUMBER_WORDS + r"(?:[ -]" + _NUMBER_WORDS + r")* ?(?:percent|%|x|times)"
_GAIN = r"(?:return|roi|more|faster|less|fewer|better|higher|lower|improvement|increase|growth|boost|lift|uplift)"
_CLAIMED_RATE = _patterns(
    _RATE + r" " + _GAIN,
    r"(?:cut|cuts|reduc\w*|increas\w*|boost\w*|grow\w*|improv\w*|rais\w*|lift\w*|sav\w*|drop\w*)(?: [\w']+){0,4}"
    r" by (?:up to |about |around |over |at least )?" + _RATE,
)
_STOPWORDS = frozenset(
    "about after again also always another because been before being could doing done each even every have here "
    "just know like look make many maybe more most much need never only other over really right said should some "
    "still such sure tell than that that's their them then there these they thing things think this those time "
    "want well were what when where which while will with would your you're yeah okay going gonna".split())
_WORD = re.compile(r"[a-z0-9']+")
_TOKEN = re.compile(r"\d[\d,.]*|[^\W\d]+")  # "10x" is a figure and a word
GROUNDED_OVERLAP = 2  # content words shared with what the buyer said that tie a seller's claim to the buyer


@dataclass(frozen=True, slots=True)
class Coaching:
    hesitations: int = 0  # buyer turns that object, stall or refuse, answered by the seller
    hesitation_points: int = 0  # the seller's answers to them, 0-4 each
    buyer_questions: int = 0  # seller turns asking about the buyer's situation, not for a decision
    open_buyer_questions: int = 0  # ... with an open question
    playbacks: int = 0  # seller turns that play back what the buyer said
    grounded_value: int = 0  # seller turns that tie an outcome to the buyer's own words
    pushes: int = 0  # seller turns pressing on right after a clear no, or pressing for a yes
    graceful_exits: int = 0  # a clear no accepted with grace and a door left open
    refusals: int = 0  # buyer turns with a clear no


def _content(text: str) -> set[str]:
    return {word[:6] for word in _WORD.findall(text) if len(word) >= 4 and word not in _STOPWORDS}


@dataclass(frozen=True, slots=True)
class CoachingPhrases:
    """What a coach listens for in one language: patterns on normalised, lower-cased text, as the English ones of this
    module are written."""

    hesitation: re.Pattern[str]
    refusal: re.Pattern[str]
    argues: re.Pattern[str]
    presses: re.Pattern[str]
    acknowledges: re.Pattern[str]
    explores: re.Pattern[str]
    fit_check: re.Pattern[str]
    exits: re.Pattern[str]
    proof: re.Pattern[str]
    figure: re.Pattern[str]
    trades: re.Pattern[str]
    discounts: re.Pattern[str]
    closing_question: re.Pattern[str]
    about_buyer: re.Pattern[str]
    open_question: re.Pattern[str]
    playback: re.Pattern[str]
    outcome: re.Pattern[str]
    content: Callable[[str], set[str]]  # a text's content words, reduced to a common form
    claimed_rate: re.Pattern[str]  # a gain claimed as a rate
    comparable: re.Pattern[str]  # customers like the buyer
    opens_up: re.Pattern[str]


ENGLISH = CoachingPhrases(
    hesitation=_HESITATION, refusal=_REFUSAL, argues=_ARGUES, presses=_PRESSES, acknowledges=_ACKNOWLEDGES,
    explores=_EXPLORES, fit_check=_FIT_CHECK, exits=_EXITS, proof=_PROOF, figure=_FIGURE, trades=_TRADES,
    discounts=_DISCOUNTS, closing_question=_CLOSING_QUESTION, about_buyer=_ABOUT_BUYER, open_question=_OPEN,
    playback=_PLAYBACK, outcome=_OUTCOME, content=_content, opens_up=_OPENS_UP,
    claimed_rate=_CLAIMED_RATE, comparable=_COMPARABLE,
)


class CoachedText:
    """A turn's text (normalised, lower case) as the coach hears it, each finding made when it is first asked for and
    then kept, so that a turn heard by several measures is searched once (``questions_of``: the questions a text
    asks, as ``conversation`` finds them; ``phrases``: those of the call's language)."""

    def __init__(self, text: str, questions_of: Callable[[str], Sequence[str]], phrases: CoachingPhrases) -> None:
        self.text = text
        self._questions_of = questions_of
        self._phrases = phrases

    @cached_property
    def questions(self) -> tuple[str, ...]:
        return tuple(self._questions_of(self.text))

    @cached_property
    def word_roots(self) -> frozenset[str]:
        return frozenset(self._phrases.content(self.text))

    @cached_property
    def refuses(self) -> bool:
        return bool(self._phrases.refusal.search(self.text))

    @cached_property
    def hesitates(self) -> bool:
        return bool(self._phrases.hesitation.search(self.text))

    @cached_property
    def _buyer_questions(self) -> tuple[str, ...]:
        p = self._phrases
        return tuple(q for q in self.questions if p.about_buyer.search(q) and not p.closing_question.search(q)
                     and not p.argues.search(q))

    @cached_property
    def hesitation_roots(self) -> frozenset[str]:
        """The content words of what the buyer holds back on: each hesitation's phrase and the words after it
        ("worried about cost and how long a rollout would take")."""
        roots: set[str] = set()
        for found in self._phrases.hesitation.finditer(self.text):
            clause = " ".join(self.text[found.start():].split()[:HESITATION_CLAUSE_WORDS])
            roots |= self._phrases.content(clause)
        return frozenset(roots)

    def asks_about(self, hesitation: CoachedText) -> bool:
        """A question about the hesitation just heard: one pointing back at it ("why is that") or inviting the buyer to
        say more, or sharing its words ("what worries you about the rollout"); "how big is the team" after a worry
        about cost is not."""
        p = self._phrases
        return any(p.opens_up.search(q) or p.content(q) & hesitation.hesitation_roots
                   for q in self.questions if not p.closing_question.search(q))

    @cached_property
    def asks_about_buyer(self) -> bool:
        return bool(self._buyer_questions)

    @cached_property
    def asks_more_than_a_close(self) -> bool:
        """A question other than one asking for a decision or a date: answering a stall with "when should i follow
        up" lets it go unexamined."""
        return any(not self._phrases.closing_question.search(q) for q in self.questions)

    @cached_property
    def asks_openly_about_buyer(self) -> bool:
        return any(self._phrases.open_question.search(q) for q in self._buyer_questions)

    @cached_property
    def plays_back(self) -> bool:
        return bool(self._phrases.playback.search(self.text))

    @cached_property
    def argues(self) -> bool:
        return bool(self._phrases.argues.search(self.text))

    @cached_property
    def claims_outcome(self) -> bool:
        return bool(self._phrases.outcome.search(self.text))

    @cached_property
    def word_set(self) -> frozenset[str]:
        return frozenset(_WORD.findall(self.text))

    @cached_property
    def claimed_rates(self) -> tuple[frozenset[str], ...]:
        """The figures of the rates this text claims ("three hundred percent"), each as its words."""
        p = self._phrases
        return tuple(frozenset(token for token in _TOKEN.findall(found.group()) if p.figure.fullmatch(token))
                     for found in p.claimed_rate.finditer(self.text))

    def hypes(self, said: frozenset[str] | set[str]) -> bool:
        """Claims a rate the buyer never gave (``said``: the words the buyer has said) on the seller's word alone: "most
        clients get a three hundred percent return" is hype, not value built on the buyer's numbers; a rate that
        customers like the buyer's reached, or that a pilot or a guarantee stands behind, is not."""
        if self.offers_proof or self._phrases.comparable.search(self.text):
            return False
        return any(not figure <= said for figure in self.claimed_rates)

    @cached_property
    def has_figure(self) -> bool:
        return bool(self._phrases.figure.search(self.text))

    @cached_property
    def presses(self) -> bool:
        return bool(self._phrases.presses.search(self.text))

    @cached_property
    def takes_leave(self) -> bool:
        return bool(self._phrases.exits.search(self.text))

    @cached_property
    def discounts(self) -> bool:
        return bool(self._phrases.discounts.search(self.text))

    @cached_property
    def explores(self) -> bool:
        return bool(self._phrases.explores.search(self.text))

    @cached_property
    def acknowledges(self) -> bool:
        return bool(self._phrases.acknowledges.search(self.text))

    @cached_property
    def offers_proof(self) -> bool:
        return bool(self._phrases.proof.search(self.text))

    @cached_property
    def trades(self) -> bool:
        return bool(self._phrases.trades.search(self.text))

    @cached_property
    def checks_fit(self) -> bool:
        return bool(self._phrases.fit_check.search(self.text))


T = TypeVar("T", bound=CoachedText)


def coach(ordered: Sequence[Turn], texts: Sequence[T], answers: Callable[[T, T], bool],
          refusals_before: int = 0) -> Coaching:
    """The coaching measures of turns in sequence order (``texts``: their texts as heard; ``answers(objection,
    reply)``: whether the reply speaks to what the objection is about, as ``conversation`` knows objections;
    ``refusals_before``: the noes the buyer said before these turns, in the same call)."""
    hesitations = points = buyer_questions = open_questions = playbacks = grounded = pushes = exits = 0
    refusals = refusals_before
    heard: set[str] = set()
    said: set[str] = set()  # the buyer's words as said, for the figures the buyer gave
    for index, (turn, text) in enumerate(zip(ordered, texts, strict=True)):
        if turn.role == Role.ASSISTANT:
            heard |= text.word_roots
            said |= text.word_set
            refusals += text.refuses
            continue
        before = texts[index - 1] if index and ordered[index - 1].role == Role.ASSISTANT else None
        asks = bool(text.questions)
        # After the buyer has said no twice, more questions are pressure, not discovery.
        buyer_questions += text.asks_about_buyer and refusals < 2
        open_questions += text.asks_openly_about_buyer and refusals < 2
        playbacks += text.plays_back and not text.argues
        shared = len(text.word_roots & heard)
        grounded += shared >= GROUNDED_OVERLAP and text.claims_outcome and not text.argues and not text.hypes(said)
        if before is not None and before.hesitates:
            hesitations += 1
            refused = before.refuses
            if refused and refusals >= 2:
                # Told no again: the only good answer is to accept it.
                earned = EXPLORED if _accepts(text, asks) else IGNORED
            else:
                specific = answers(before, text) or (shared >= GROUNDED_OVERLAP and text.has_figure)
                earned = _handling(text, text.asks_more_than_a_close, text.asks_about(before), refused, specific)
            points += earned
            if refused:
                pushes += earned == IGNORED
                exits += _accepts(text, asks)
                continue
        if text.presses or (refusals >= 2 and not _accepts(text, asks)):
            pushes += 1
        elif text.takes_leave and not text.discounts:
            exits += 1
    return Coaching(hesitations, points, buyer_questions, open_questions, playbacks, grounded, pushes, exits,
                    refusals - refusals_before)


def _accepts(reply: CoachedText, asks: bool) -> bool:
    """The seller takes the no: acknowledges it and asks for nothing more, or checks fit gracefully."""
    if reply.presses or reply.discounts or (reply.argues and not reply.explores):
        return False
    return reply.takes_leave or (reply.acknowledges and not asks) or reply.checks_fit


def _handling(reply: CoachedText, asks: bool, asks_about_it: bool, refused: bool, specific: bool) -> int:
    """How the seller's turn answers the buyer's hesitation just before it (``asks``: a question other than for a
    decision or a date; ``asks_about_it``: one about the hesitation; ``specific``: it speaks to what the objection is
    about, or builds figures on what the buyer said). An acknowledgement followed by a question on something else
    moves on rather than explores: it is acknowledged only."""
    if (reply.argues and not reply.explores) or reply.presses:
        return IGNORED
    acknowledged = reply.acknowledges
    answered = (reply.offers_proof or specific) and not refused
    if reply.explores or (acknowledged and (asks_about_it or answered)):
        return EXPLORED
    if answered:
        return SPECIFIC
    if acknowledged or asks or reply.trades:
        return ACKNOWLEDGED
    if reply.discounts:
        return CONCEDED
    return IGNORED
