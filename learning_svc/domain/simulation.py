"""The deterministic local persona-and-candidate simulator of the validate stage of a prompt evolution run.

A prompt evolution run checks a refinement by simulating a few calls of the persona with the current prompt
patches and again with the refinement added, auditing both sets with the same auditor as real calls
(calls.persona_audit.audit_persona) and comparing the summaries. This module is the offline engine for that:
no model, no I/O, and the same persona, rules and seed always give the same call.

It is an instruction-following stand-in, not a model: it obeys every rule it understands, so a patch it validates
passes because it was obeyed, not because a model would follow it. What its calls can show is a patch's side
effects (another dimension, or another persona the patch reaches, getting worse); whether a model follows the patch
is measured only on the model path.

The persona
    Plays its own fields. Words per turn sit around the auditor's target for its difficulty, stretched by a
    verbose language style or a description that says it talks a lot ("talkative", "chatty", "verbose",
    "long answers") and well past twice the target maximum when the description says it talks far too long
    ("long-winded", "rambles", "explains everything in detail", "monologues"); a concise style keeps it in the
    lower half. It leaks enthusiasm (the auditor's phrases such as "I appreciate that", "great question",
    "that sounds amazing", "I love that", and exclamation marks) into a good share of its turns when it is
    described as enthusiastic, eager, excitable or gushing, and into some turns when its emotional style is
    expressive; a calm or guarded persona (reserved emotional style, low agreeableness, or described as calm,
    guarded, blunt, sceptical...) never does. Each persona has a favourite leak phrase, so a phrase repeats
    across calls the way it does in real ones. Three rarer flaws are played only when the description asks
    for them: breaking character ("breaks character", "sounds like an assistant"), giving in early ("agrees
    easily", "says yes to everything", "gives in") and blowing hot and cold ("mixed signals", "inconsistent").
    A persona described as giving its budget away first ("gives its budget away in the first answer", "opens
    with its budget", "volunteers the budget up front") answers the candidate's first question with a budget
    figure and nothing else, which the auditor flags as disclosed before it was earned from difficulty 2 on.
    Cues inside a clause about what the persona reacts to ("cuts off rambling", "interrupts long answers")
    do not count. What it says comes from its beliefs, objection patterns and domains and from company-style
    sentences answering the candidate's topic, cut or filled at word level to the chosen length; a follow-up that
    asks for something of its own (what makes it hard, how it plays out day to day, what happened the last time) is
    answered first with sentences that say it. Every sentence is checked against the auditor so that nothing trips
    it unless a flaw above is being played.

The rules
    The texts of the prompt patches in force. The local engine follows only the rules it understands, by
    these regular expressions (case-insensitive); any other rule is ignored (see ``parse_rules``):

    * words per turn: "N-M words" (also with "to", an en or em dash), "between N and M words" bound every
      turn to N..M; "at most / no more than / up to / a maximum of N words" and "under / fewer than / less
      than N words" cap it. The last rule with a length wins.
    * banned phrases: a negated verb of speech ("never say", "don't say", "do not use", "avoid saying",
      "stop saying", "must not say"...) followed by quoted phrases ('...', "...", or curly quotes). Every
      quoted phrase after the verb is banned: the persona never uses it (nor any sentence containing it).
      A banned leak phrase is a habit broken: half the leaks it would have made do not happen, the other
      half come out as another phrase - banning one phrase is not calming down.
    * calm: "flat / guarded / cool / reserved / neutral / understated ... tone (voice, delivery, manner)",
      "stay / keep / remain / be / sound ... calm (flat, guarded, cool, reserved, unimpressed)", a negated
      "exclamation", "no / never / don't ... gush, enthusiasm, excitement, praise, flattery", "hide your
      enthusiasm": no leak phrase and no exclamation mark at all.
    * in character: "stay in character", "never mention/say/admit ... AI / assistant / instructions",
      "never offer to help": no assistant-speak.
    * hold ground: "hold your ground", "agree to nothing", "don't agree / commit / give in ... until
      (before, early)": concessions only in the last fifth of the call.
    * consistent tone: "the tone your traits give you", "tone ... consistent", "consistent ... traits
      (personality, character, tone)", "never use warm/harsh phrases", "stay cool and guarded", "push back
      politely": no warm slips from a cool persona nor harsh ones from a warm persona.
    * short answers: "keep every (each, your) answer short (brief)", as a published brevity module tells it: no
      turn over the persona's own target length (when no rule gives a length).
    * hold back facts: "hold(s) back ... budget (who signs, deadline)", "never give/volunteer/reveal ...
      budget ... until (before)": no budget given away first. The new text of a structured patch that replaces
      a passage is such a rule too: the stand-in reads the persona's fields as stored and the patch's text on
      top, so a replaced passage is overruled rather than gone.

The candidate
    A discovery-call script per blueprint family (sales and marketing: pain, budget, timeline, decision
    process, success criteria, next step; engineering, security, hiring and implementation tracks: their own
    topics), the order of the middle topics and the follow-ups varied by seed, which it leaves to react to what
    the persona just said: a budget, signer or deadline the persona gave (the auditor's facts_given) is followed up
    once, and a question the persona avoided (a counter-question, or a word or three) is asked again, not twice in
    a row. Otherwise it goes on with its script, so the same seed gives the same candidate with and without a patch
    until the persona answers differently.

Maps onto sparring.learning.v1: SimulationSummary and AuditScoreMeans (field names are the proto's)."""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from calls.job_tracks import Blueprint
from calls.persona_audit import (
    MAX_DIFFICULTY,
    MIN_DIFFICULTY,
    MINIMAL_WORDS,
    FlagReason,
    PersonaAudit,
    PersonaProfile,
    WordRange,
    audit_persona,
    facts_given,
    target_words_per_turn,
)
from calls.turns import Role, Turn, normalise, words

DEFAULT_EXCHANGES = 8
MAX_EXCHANGES = 50
MAX_WORDS_PER_TURN = 200

# Share of turns that leak enthusiasm: described as enthusiastic, and also expressive; expressive only.
STRONG_LEAK_SHARE = 0.6
EXPRESSIVE_STRONG_LEAK_SHARE = 0.7
EXPRESSIVE_LEAK_SHARE = 0.25
FAVOURITE_PHRASE_SHARE = 0.6  # of leaks, the persona's favourite phrase
SUBSTITUTE_SHARE = 0.5  # of leaks of a banned phrase, said with another phrase instead (else not at all)
DOUBLE_EXCLAMATION_SHARE = 0.35  # of leaks, a second exclamation mark at the end of the turn
SLIP_SHARE = 0.3  # assistant-speak, or a tone slip, per turn when the persona plays that flaw
CONCESSION_SHARE = 0.35  # per turn after the first, when the persona gives in easily
HOLD_GROUND_FROM = 0.8  # with a hold-ground rule, concessions only from this point of the call
QUESTION_SHARE = 0.2  # turns that end with a question of the persona's own
QUESTIONING_SHARE = 0.4  # the same for a persona that answers questions with questions
MAX_QUESTION_SHARE = 0.4  # of a call's turns, at most (the auditor calls over 0.6 deflecting)
MIN_ANSWER_WORDS = 4  # a turn that ends with a question first answers in at least this many words


# ---------------------------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class SimulatedPersona:
    """A persona as the simulator plays it; enum-valued fields hold the proto enum value names."""

    persona: str  # "personas/{id}"
    display_name: str = ""
    archetype: str = ""  # "archetypes/{id}", or ""
    difficulty: int = 3  # 1 to 5
    blueprint: str = "BLUEPRINT_SALES"
    personality_traits: tuple[str, ...] = ()
    traits: Mapping[str, float] = field(default_factory=dict)  # e.g. OCEAN, each 0.0 to 1.0
    communication_style: str = ""
    language_style: str = "LANGUAGE_STYLE_UNSPECIFIED"  # e.g. "LANGUAGE_STYLE_VERBOSE"
    emotional_style: str = "EMOTIONAL_STYLE_UNSPECIFIED"  # e.g. "EMOTIONAL_STYLE_EXPRESSIVE"
    beliefs: tuple[str, ...] = ()
    objection_patterns: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not MIN_DIFFICULTY <= self.difficulty <= MAX_DIFFICULTY:
            raise ValueError(f"difficulty must be between {MIN_DIFFICULTY} and {MAX_DIFFICULTY}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SimulatedPersona:
        """From a persona in its JSON form: a catalogue entry ({"persona_id", "persona": {...}}), or the
        persona message as json_format.MessageToDict gives it (preserving_proto_field_name)."""
        nested = data.get("persona")
        body: Mapping[str, Any] = nested if isinstance(nested, Mapping) else data
        name = body.get("name") or f"personas/{data.get('persona_id') or body.get('slug', '')}"
        config = body.get("config") or {}
        beliefs = tuple(b["text"] if isinstance(b, Mapping) else str(b) for b in body.get("beliefs", ()))
        traits = body.get("traits") or {}
        if not isinstance(traits, Mapping):
            traits = {t["name"]: float(t.get("value", 0.0)) for t in traits}
        return cls(
            persona=name,
            display_name=body.get("display_name", ""),
            archetype=body.get("archetype", ""),
            difficulty=int(body.get("difficulty", 3)),
            blueprint=body.get("blueprint", "BLUEPRINT_SALES"),
            personality_traits=tuple(body.get("personality_traits", ())),
            traits=dict(traits),
            communication_style=body.get("communication_style", ""),
            language_style=config.get("language_style", "LANGUAGE_STYLE_UNSPECIFIED"),
            emotional_style=config.get("emotional_style", "EMOTIONAL_STYLE_UNSPECIFIED"),
            beliefs=beliefs,
            objection_patterns=tuple(body.get("objection_patterns", ())),
            domains=tuple(body.get("domains", ())),
        )


@dataclass(frozen=True, slots=True)
class PlayedPrompts:
    """A persona's system prompt as the persona service renders it for its voice agent, on each side of a comparison:
    as published (baseline) and with the change (patched). A model plays these; the local stand-in plays the persona's
    fields and the instructions of these it understands (prompt_rules)."""

    baseline: str
    patched: str


@dataclass(frozen=True, slots=True)
class AuditScoreMeans:
    brevity: float
    authenticity: float
    consistency: float
    enthusiasm_leak: float
    pacing: float
    overall: float  # mean of the five


@dataclass(frozen=True, slots=True)
class SimulationSummary:
    calls: int
    scores: AuditScoreMeans
    avg_words_per_turn: float
    flagged_quotes_per_call: float
    call_scores: tuple[AuditScoreMeans, ...] = ()  # each call's, in seed order, so two runs pair up by seed
    call_words_per_turn: tuple[float, ...] = ()  # each call's mean words per persona turn, in seed order


@dataclass(frozen=True, slots=True)
class RuleSet:
    """What the local engine understood of the rules in force."""

    words_per_turn: WordRange | None = None  # bounds every turn
    max_words: int | None = None  # caps every turn (when no range)
    banned_phrases: tuple[str, ...] = ()  # normalised: lowercase words
    calm: bool = False
    in_character: bool = False
    hold_ground: bool = False
    consistent_tone: bool = False
    hold_back: bool = False  # the budget is not given away first
    ignored: tuple[str, ...] = ()  # rules it did not understand
    short: bool = False  # no turn over the persona's own target length, when no rule gives a length


def profile_of(persona: SimulatedPersona) -> PersonaProfile:
    """The profile the analysis service audits the persona's real calls with."""
    return PersonaProfile(
        archetype=persona.archetype.removeprefix("archetypes/"),
        difficulty=persona.difficulty,
        personality_traits=tuple(persona.personality_traits),
        traits=dict(persona.traits),
        objection_patterns=persona.objection_patterns,
    )


# ---------------------------------------------------------------------------------------------- rules

_N = r"(\d{1,3})"
_RANGE_RULE = re.compile(rf"(?<![\w.]){_N}\s*(?:-|\u2013|\u2014|to)\s*{_N}\s+words?\b", re.IGNORECASE)
_BETWEEN_RULE = re.compile(rf"\bbetween\s+{_N}\s+and\s+{_N}\s+words?\b", re.IGNORECASE)
_CAP_RULE = re.compile(
    rf"\b(at most|no more than|not more than|up to|a maximum of|max(?:imum)?|under|fewer than|less than)"
    rf"\s+{_N}\s+words?\b",
    re.IGNORECASE,
)
_BAN_VERB = re.compile(
    r"\b(?:never|don't|do not|dont|avoid|stop|must not|mustn't|should not|shouldn't|no more)\s+(?:ever\s+)?"
    r"(?:say|saying|use|using|utter|uttering)\b",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"""(?<!\w)["'\u201c](.+?)["'\u201d](?=$|[\s.,;:!?)\-\u2013\u2014])""")
_CALM_RULE = re.compile(
    r"\b(?:flat|guarded|cool|reserved|neutral|understated|muted)\b(?:[\s,]+(?:and\s+)?\w+){0,3}?[\s,]+"
    r"(?:tone|voice|delivery|manner)\b"
    r"|\b(?:stay|keep|remain|be|sound)\s+(?:\w+\s+){0,2}?"
    r"(?:flat|guarded|calm|cool|reserved|understated|unimpressed|unexcited)\b"
    r"|\b(?:no|never|drop|avoid|without|stop|don't|do not)\b(?:\s+\w+){0,3}?\s+exclamation"
    r"|\b(?:no|never|don't|do not|stop|without)\s+(?:\w+\s+){0,2}?"
    r"(?:gush\w*|enthusiasm|excitement|excited|eagerness|praise|praising|cheerleading|flattery|flatter)\b"
    r"|\bhide\s+(?:your\s+|any\s+)?(?:enthusiasm|excitement)\b",
    re.IGNORECASE,
)
_IN_CHARACTER_RULE = re.compile(
    r"\bstay in character\b|\bnever (?:mention|say|admit|reveal)\b[^.]*\b(?:ai|assistant|bot|instructions)\b"
    r"|\b(?:never|don't|do not)\s+offer\s+(?:to\s+)?help",
    re.IGNORECASE,
)
_HOLD_GROUND_RULE = re.compile(
    r"\bhold (?:your|their) ground\b|\bagree to nothing\b"
    r"|\b(?:don't|do not|never)\s+(?:agree|commit|give in|concede)\b[^.]*\b(?:until|before|early)\b",
    re.IGNORECASE,
)
_CONSISTENT_RULE = re.compile(
    r"\btone your traits\b|\b(?:tone|voice)\b[^.]*\bconsistent\b|\bconsistent\b[^.]*\b(?:tone|traits|personality|"
    r"character)\b|\bnever use (?:warm|harsh) phrases\b|\bstay cool and guarded\b|\bpush back politely\b",
    re.IGNORECASE,
)
_HOLD_BACK_RULE = re.compile(
    r"\bholds?\s+back\b[^.]*\b(?:budget|who signs|deadline)\b"
    r"|\b(?:never|don't|do not)\s+(?:give|volunteer|reveal|name|state)\w*\b[^.]*\bbudget\b[^.]*\b(?:until|before)\b",
    re.IGNORECASE,
)
_SHORT_RULE = re.compile(r"\bkeep\s+(?:every|each|your|all)\s+(?:\w+\s+)?answers?\s+(?:short|brief)\b",
                         re.IGNORECASE)
_BEHAVIOUR_RULES = (_CALM_RULE, _IN_CHARACTER_RULE, _HOLD_GROUND_RULE, _CONSISTENT_RULE, _HOLD_BACK_RULE)
_WORD = re.compile(r"\w+(?:'\w+)*")


def phrase_key(phrase: str) -> str:
    """A phrase as compared: lowercase words, typographic apostrophes plain, punctuation dropped."""
    return " ".join(_WORD.findall(normalise(phrase).casefold()))


def _length_rule(rule: str) -> tuple[WordRange | None, int | None] | None:
    for pattern in (_RANGE_RULE, _BETWEEN_RULE):
        match = pattern.search(rule)
        if match:
            low, high = sorted((int(match.group(1)), int(match.group(2))))
            if 1 <= low and high <= MAX_WORDS_PER_TURN:
                return WordRange(low, high), None
    match = _CAP_RULE.search(rule)
    if match:
        cap = int(match.group(2)) - (1 if match.group(1).casefold() in ("under", "fewer than", "less than") else 0)
        if 1 <= cap <= MAX_WORDS_PER_TURN:
            return None, cap
    return None


def parse_rules(rules: Iterable[str]) -> RuleSet:
    """The rules the local engine understands (see the module docstring); the others are listed as ignored."""
    words_per_turn: WordRange | None = None
    cap: int | None = None
    banned: list[str] = []
    calm = in_character = hold_ground = consistent = hold_back = short = False
    ignored: list[str] = []
    for raw in rules:
        rule = normalise(raw)
        understood = False
        length = _length_rule(rule)
        if length is not None:
            words_per_turn, cap = length
            understood = True
        verb = _BAN_VERB.search(rule)
        if verb:
            for match in _QUOTED.finditer(rule, verb.end()):
                key = phrase_key(match.group(1))
                if key and key not in banned:
                    banned.append(key)
                    understood = True
        found = [pattern.search(rule) is not None for pattern in _BEHAVIOUR_RULES]
        calm, in_character, hold_ground, consistent, hold_back = (
            old or new
            for old, new in zip((calm, in_character, hold_ground, consistent, hold_back), found, strict=True)
        )
        if _SHORT_RULE.search(rule):
            short = understood = True
        if not understood and not any(found):
            ignored.append(raw)
    return RuleSet(words_per_turn, cap, tuple(banned), calm, in_character, hold_ground, consistent, hold_back,
                   tuple(ignored), short)


def _is_banned(text: str, banned: Sequence[str]) -> bool:
    key = phrase_key(text)
    return any(f" {phrase} " in f" {key} " for phrase in banned)


def _family_banned(family: int, banned: Sequence[str]) -> bool:
    name, sayings = _LEAKS[family]
    return any(_is_banned(text, banned) for text in (name, *sayings))


# ---------------------------------------------------------------------------------------------- persona cues

# A cue in a clause that is about what the persona reacts to does not describe the persona itself.
_REACTS_TO = re.compile(
    r"\b(?:cuts? off|interrupts?|hates?|dislikes?|intolerant|impatient with|punish\w*|no|not|never|without|"
    r"avoids?|steer\w*|treats?|against|tired of)\b"
)
_LONG_WINDED = re.compile(
    r"long[- ]winded|rambl\w*|far too long|too long|in (?:great |excessive |exhaustive |endless )?detail|"
    r"monologu\w*|never stops talking|can't stop talking|goes on and on|overshar\w*|wordy|waffl\w*"
)
_TALKATIVE = re.compile(
    r"talkative|chatty|verbose|long(?:,? \w+)? (?:answers|turns|stories)|at length|expansive|thinks out loud|"
    r"loquacious|garrulous|dominates the conversation|storytell\w*"
)
_ENTHUSIASTIC = re.compile(
    r"enthusias\w*|eager\w*|excitab\w*|excited|gush\w*|bubbly|effusive|over the moon|exuberant|peppy|"
    r"leaks enthusiasm"
)
_COOL = re.compile(
    r"\b(?:calm\w*|guarded|reserved|cold|aloof|blunt|curt|clipped|sceptic\w*|skeptic\w*|cynic\w*|poker[- ]faced|"
    r"deadpan|stoic|impatient|dismissive|hostile|gruff|distrust\w*|flat|measured|composed|unimpressed|"
    r"hard to impress|forensic|suspicious)\b"
)
_BREAKS_CHARACTER = re.compile(
    r"breaks? character|out of character|sounds like an? (?:ai|assistant|chatbot|bot)|assistant[- ]like|"
    r"offers to help|customer[- ]service voice"
)
_GIVES_IN = re.compile(
    r"gives in|caves|agrees (?:easily|readily|quickly|to everything)|says yes to (?:almost )?everything|"
    r"easily (?:convinced|persuaded)|pushover"
)
_GIVES_BUDGET = re.compile(
    r"\b(?:opens?|leads?|starts?) with\b[^.;,]*\bbudget\b"
    r"|\b(?:gives?|giving|states?|names?|volunteers?|reveals?|shares?|blurts? out)\b[^.;,]*\bbudget\b"
    r"[^.;,]*\b(?:away|first|up ?front|straight away|right away|at once|early)\b"
)
_HOT_AND_COLD = re.compile(r"hot and cold|mixed signals|inconsistent|mood swings|moody|unpredictable")
_QUESTIONING = re.compile(r"answers? (?:questions )?with (?:a )?questions?|asks? (?:a lot of|many) questions")


@dataclass(frozen=True, slots=True)
class _Cues:
    long_winded: bool
    talkative: int
    enthusiastic: bool
    cool: bool
    breaks_character: bool
    gives_in: bool
    gives_budget: bool
    hot_and_cold: bool
    questioning: bool


def _clauses(persona: SimulatedPersona) -> list[str]:
    parts = [*persona.personality_traits, *re.split(r"[;,.]", persona.communication_style)]
    return [part.strip().casefold() for part in parts if part.strip()]


def _described(clauses: Sequence[str], pattern: re.Pattern[str]) -> int:
    """Clauses that describe the persona by the pattern (not what it reacts to)."""
    return sum(
        any(not _REACTS_TO.search(clause[: match.start()]) for match in pattern.finditer(clause)) for clause in clauses
    )


def gives_budget_first(description: str) -> bool:
    """Whether a trait, or a clause of a communication style, describes the persona giving its budget away first
    (as the stand-in plays it)."""
    return _described([description.strip().casefold()], _GIVES_BUDGET) > 0


def _cues(persona: SimulatedPersona) -> _Cues:
    clauses = _clauses(persona)
    profile = profile_of(persona)
    cool = (
        _described(clauses, _COOL) > 0
        or persona.emotional_style == "EMOTIONAL_STYLE_RESERVED"
        or profile.low_agreeableness
    )
    return _Cues(
        long_winded=_described(clauses, _LONG_WINDED) > 0,
        talkative=_described(clauses, _TALKATIVE),
        enthusiastic=_described(clauses, _ENTHUSIASTIC) > 0,
        cool=cool,
        breaks_character=_described(clauses, _BREAKS_CHARACTER) > 0,
        gives_in=_described(clauses, _GIVES_IN) > 0,
        gives_budget=_described(clauses, _GIVES_BUDGET) > 0,
        hot_and_cold=_described(clauses, _HOT_AND_COLD) > 0,
        questioning=_described(clauses, _QUESTIONING) > 0,
    )


def _leak_share(persona: SimulatedPersona, cues: _Cues) -> float:
    if cues.cool:
        return 0.0
    expressive = persona.emotional_style == "EMOTIONAL_STYLE_EXPRESSIVE"
    if cues.enthusiastic:
        return EXPRESSIVE_STRONG_LEAK_SHARE if expressive else STRONG_LEAK_SHARE
    return EXPRESSIVE_LEAK_SHARE if expressive else 0.0


def _length_band(persona: SimulatedPersona, cues: _Cues) -> tuple[float, float]:
    """Where the persona's own turn lengths fall, in words, before any rule."""
    target = target_words_per_turn(persona.difficulty)
    low, high = target.min_words, target.max_words
    span = high - low
    if cues.long_winded:
        return 2.0 * high, 2.6 * high
    verbosity = min(cues.talkative, 2) + (persona.language_style == "LANGUAGE_STYLE_VERBOSE")
    verbosity -= persona.language_style == "LANGUAGE_STYLE_CONCISE"
    if verbosity >= 2:
        return low + 0.5 * span, 1.3 * high
    if verbosity == 1:
        return low + 0.4 * span, 1.1 * high
    if verbosity < 0:
        return low, low + 0.5 * span
    return low + 0.15 * span, high


# ---------------------------------------------------------------------------------------------- repertoire

# (the auditor's name for the phrase, how the persona says it); each says exactly that one leak phrase.
_LEAKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("I appreciate that", ("I appreciate that!", "I really appreciate that!")),
    ("great question", ("Great question!", "That's a great question!")),
    ("that's amazing", ("That sounds amazing!", "That's amazing!")),
    ("I love that", ("I love that!", "Oh, I love that idea!")),
    ("sounds great", ("Sounds great!",)),
    ("I'm so excited", ("I'm so excited about this!",)),
    ("wow", ("Wow!",)),
)
_ASSISTANT_SLIPS = ("How can I help you with that?", "I'd be happy to help with that.", "As an AI, I can explain.")
_WARM_SLIPS = ("Thanks so much for that.", "No worries at all.", "That's really helpful.")
_HARSH_SLIPS = ("Get to the point.", "Honestly, that's a waste of my time.")
_CONCESSIONS = ("Sounds good to me.", "You've convinced me.", "Let's move forward.")
# A budget given away as the first answer, whatever was asked (calls.persona_audit.facts_given reads a budget in each).
_BUDGET_FIRST = ("We have $60,000 a year set aside for this.", "Our budget for this is $45,000 a year.")

_TOPIC_SENTENCES: dict[str, tuple[str, ...]] = {
    "pain": (
        "The main problem is that {domain} takes far more time than it should.",
        "Most of the friction sits in {domain} right now.",
        "Nobody owns {domain} end to end, so things slip through.",
        "We still patch {domain} by hand every month.",
        "It is mostly {domain}.",
        "Too much manual work.",
    ),
    "budget": (
        "There is some budget, but nothing is signed off yet.",
        "Money gets released when the case is clear.",
        "Anything new competes with projects that are already funded.",
        "I would need hard numbers before I ask finance for more.",
        "Budget is tight.",
        "Nothing is approved yet.",
    ),
    "timeline": (
        "Nothing changes before next quarter.",
        "We plan in quarters, so timing depends on the next review.",
        "If it slips past the summer it waits another year.",
        "The calendar is full until the current rollout is done.",
        "Not before next quarter.",
        "There is no rush on our side.",
    ),
    "decision": (
        "I do not decide this alone.",
        "Finance and my manager both have to agree.",
        "Anything above my limit goes to a committee.",
        "Two other people will want their say on this.",
        "Not my call alone.",
        "Finance has the last word.",
    ),
    "success": (
        "Success means fewer hours spent on {domain}.",
        "I want one number that moves, not another dashboard.",
        "If the team still uses it after three months, it worked.",
        "Show me a measurable change in {domain} and we can talk.",
        "Fewer hours on {domain}.",
        "One number that moves.",
    ),
    "next_step": (
        "Send me something short in writing.",
        "Put a proposal together and I will read it.",
        "We can talk again once I have checked with the team.",
        "I will need to think about it first.",
        "Send me something short.",
        "Email me the details.",
    ),
    "team": (
        "The team is small and already stretched.",
        "Most of the people here have been with us for years.",
        "We cover {domain} with a handful of specialists.",
        "Everyone on the team wears several hats.",
        "A small team.",
        "Everyone is stretched.",
    ),
    "risk": (
        "The biggest risk is data going somewhere we cannot see.",
        "What worries me is a rollout nobody adopts.",
        "If {domain} breaks, customers notice within the hour.",
        "We have been burned by promises about {domain} before.",
        "Data leaving our control.",
        "A rollout nobody uses.",
    ),
}
_FILLERS = (
    "That is how it looks from where I sit.",
    "It depends on the week.",
    "We have heard a lot of promises on calls like this.",
    "Our numbers on {domain} are not where they should be.",
    "Last year we looked at something similar and dropped it.",
    "People here are busy with other priorities.",
    "I have my own view on {domain}, and it is not a popular one.",
    "The details matter more than the headline.",
    "It took us a long time to get {domain} where it is.",
    "Our leadership is watching costs closely this year.",
)
_DOMAIN_SENTENCES = (
    "I spend a lot of my week on {domain}.",
    "Most of my job touches {domain} somehow.",
    "I know {domain} better than most people here.",
)
# Fill the last one to three words of a turn.
_INTERJECTIONS: dict[int, tuple[str, ...]] = {
    1: ("Honestly.", "Right.", "Anyway."),
    2: ("Fair enough.", "Not yet.", "We'll see."),
    3: ("Hard to say.", "It varies, honestly.", "That is that."),
}
_QUESTIONS = (
    "How would you measure that?",
    "Who else our size does this work for?",
    "Why would this be different from the last attempt?",
    "What would that cost us?",
)

# ---------------------------------------------------------------------------------------------- candidate

# By the blueprint's plain value ("sales"), which a StrEnum member also is.
_TRACK_OF_BLUEPRINT: dict[str, str] = {
    Blueprint.SALES: "sales",
    Blueprint.MARKETING: "marketing",
    Blueprint.AGENTIC_ENG: "engineering",
    Blueprint.FULLSTACK: "engineering",
    Blueprint.SECURITY: "security",
    Blueprint.HR: "hiring",
    Blueprint.IMPLEMENTATION: "implementation",
}
# The candidate's questions per track and topic, in the order of a textbook call (the last is the close).
_SCRIPTS: dict[str, dict[str, tuple[str, ...]]] = {
    "sales": {
        "pain": ("What is the biggest problem you are trying to solve right now?", "Where does it hurt most today?"),
        "budget": ("Have you set aside a budget for fixing this?", "How are projects like this usually funded?"),
        "timeline": ("By when do you need something in place?", "What is driving the timing on your side?"),
        "decision": ("Who else is involved in a decision like this?", "How does your team usually decide on this?"),
        "success": ("What would success look like in six months?", "How will you know this worked?"),
        "next_step": ("Would a short follow-up next week make sense?", "What would be a sensible next step?"),
    },
    "marketing": {
        "pain": ("What is not working in your current campaigns?", "Which audience are you struggling to reach?"),
        "success": ("How will you measure whether the campaign worked?", "Which number matters most to you?"),
        "budget": ("What budget split do you have in mind?", "How much room is there in the media budget?"),
        "timeline": ("When does the campaign need to be live?", "What deadline are we working against?"),
        "decision": ("Who signs off on the creative?", "Who else needs to like this idea?"),
        "next_step": ("Shall I come back with a first concept next week?", "What should the next step be?"),
    },
    "engineering": {
        "team": ("What does the team work on day to day?", "How is the engineering team organised?"),
        "pain": ("What is the hardest technical problem you face right now?", "Where does the system hurt most?"),
        "risk": ("How do failures usually show up in production?", "What keeps you up at night about the system?"),
        "success": ("What would a great first six months look like in this role?", "How do you judge good work?"),
        "timeline": ("What does the rest of the process look like?", "How fast do you want to move on this?"),
        "next_step": ("What would you like to see from me next?", "Is there anything I should prepare next?"),
    },
    "security": {
        "risk": ("Which risks worry you most about a tool like ours?", "Where do you see the biggest exposure?"),
        "pain": ("What made past vendor reviews difficult?", "Which part of the review usually takes longest?"),
        "decision": ("Who signs off on the security review?", "Who else reviews vendors with you?"),
        "success": ("What evidence would settle your concerns?", "What does a passed review look like for you?"),
        "timeline": ("When do you need the review finished?", "What is the deadline for your decision?"),
        "next_step": ("Shall I send our documentation pack today?", "What should I send you next?"),
    },
    "hiring": {
        "team": ("Tell me about the team this person would join.", "How is the team set up today?"),
        "pain": ("What has made this role hard to fill so far?", "Why did the last search not work out?"),
        "budget": ("What compensation range are we working with?", "How flexible is the pay band?"),
        "timeline": ("By when do you need someone in the seat?", "How quickly do you want to move?"),
        "decision": ("Who makes the final hiring decision?", "Who else interviews the candidates?"),
        "next_step": ("Can we agree the interview plan this week?", "What is the next step on your side?"),
    },
    "implementation": {
        "team": ("Who on your side will own the rollout?", "How much time can your team give this project?"),
        "risk": ("What risks do you see for the rollout?", "What could derail the timeline?"),
        "timeline": ("Which milestones matter most to you?", "When do you need to go live?"),
        "decision": ("Who approves changes to the scope?", "Who needs to sign off each milestone?"),
        "success": ("What does a successful launch look like for you?", "How will you judge the rollout?"),
        "next_step": ("Shall we book a weekly check-in?", "Can we agree owners for each milestone today?"),
    },
}
# Follow-ups that ask for something of their own, which the persona's answer opens with: what makes it hard, how it
# goes day to day, what happened when it was tried. Each sentence shares no point with another, so a turn that says
# two of them does not say one thing twice.
_FOLLOW_UP_ANSWERS: dict[str, tuple[str, ...]] = {
    "What makes that hard today?": (
        "It is hard because {domain} changes faster than we can keep up.",
        "The tools we use for {domain} do not talk to each other.",
        "Every fix needs three other teams on board.",
        "Nobody has the time.",
        "Too many moving parts.",
    ),
    "How does that play out day to day?": (
        "Day to day, the team redoes {domain} by hand.",
        "Every morning starts with chasing numbers for {domain}.",
        "Half the week goes on email threads.",
        "Spreadsheets everywhere.",
        "Lots of copying and pasting.",
    ),
    "What happened the last time you tried?": (
        "The last time we tried, the tool for {domain} was dropped after a month.",
        "We ran a pilot two years ago and the team went back to spreadsheets.",
        "The last vendor promised savings and never showed them.",
        "Adoption died within weeks.",
        "It fizzled out.",
    ),
}
_FOLLOW_UPS = ("Can you say more about that?", *_FOLLOW_UP_ANSWERS)
_OPENER = "Thanks for making the time today."
# The topic and question of a follow-up on each fact the persona gives (calls.persona_audit.facts_given).
_FACT_FOLLOW_UPS = {
    "budget": ("budget", "You mentioned a figure: is that money set aside already, or does it still need approval?"),
    "authority": ("decision", "You said who signs off: who else weighs in before it gets to them?"),
    "timeline": ("timeline", "You mentioned a date: what happens if you miss it?"),
}
_ASK_AGAIN = "Coming back to what I asked: "


def _stable_int(*parts: object) -> int:
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _rng(*parts: object) -> random.Random:
    return random.Random(_stable_int(*parts))


def _script(persona: SimulatedPersona, seed: int, exchanges: int) -> list[tuple[str, str, bool]]:
    """The candidate's (topic, question, whether a follow-up) per exchange."""
    # A StrEnum member is found by its plain value: "BLUEPRINT_SALES" -> "sales" -> Blueprint.SALES.
    blueprint = persona.blueprint.removeprefix("BLUEPRINT_").lower()
    track = _SCRIPTS[_TRACK_OF_BLUEPRINT.get(blueprint, "sales")]
    rng = _rng("candidate", persona.persona, seed)
    topics = list(track)
    middle, close = topics[:-1], topics[-1]
    rng.shuffle(middle)
    order: list[tuple[str, bool]] = [(topic, False) for topic in middle]
    if exchanges <= len(middle):
        order = order[: exchanges - 1] if exchanges > 1 else order[:1]
        if exchanges > 1:
            order.append((close, False))
    else:
        order.append((close, False))
        while len(order) < exchanges:
            position = rng.randrange(1, len(order))
            order.insert(position, (order[position - 1][0], True))
    script = []
    for topic, follow_up in order:
        question = rng.choice(_FOLLOW_UPS) if follow_up else rng.choice(track[topic])
        script.append((topic, question, follow_up))
    return script


# ---------------------------------------------------------------------------------------------- persona turns

_CHARACTER_FLAGS = frozenset(
    {FlagReason.ENTHUSIASM_LEAK, FlagReason.OUT_OF_CHARACTER, FlagReason.INCONSISTENT, FlagReason.PACING}
)
# A cool, sceptical, hard persona and a warm, easy one: between them every flag but length can fire.
_PROBES = (
    PersonaProfile("probe", 5, ("sceptical",), {"agreeableness": 0.1}),
    PersonaProfile("probe", 1, ("warm",), {"agreeableness": 0.9}),
)


@lru_cache(maxsize=8192)
def _clean(sentence: str) -> bool:
    """Whether the sentence trips no character flag of the auditor, whoever says it and whenever."""
    turns = [Turn(1, Role.USER, "Go on."), Turn(2, Role.ASSISTANT, sentence)]
    for index in range(9):
        turns += [Turn(3 + 2 * index, Role.USER, "Go on."), Turn(4 + 2 * index, Role.ASSISTANT, "Fine.")]
    for probe in _PROBES:
        audit = audit_persona(turns, probe)
        if any(quote.sequence == 2 and quote.reason in _CHARACTER_FLAGS for quote in audit.flagged_quotes):
            return False
    return True


def _sentences(text: str) -> list[str]:
    parts = re.findall(r"[^.!?]+[.!?]*", normalise(text).replace("!", "."))
    out = []
    for part in parts:
        part = " ".join(part.split())
        if words(part) == 0:
            continue
        if part[-1] not in ".?":
            part += "."
        out.append(part[0].upper() + part[1:])
    return out


@dataclass(frozen=True, slots=True)
class _Material:
    topics: dict[str, tuple[str, ...]]
    own: tuple[str, ...]  # from beliefs, objections and domains
    fillers: tuple[str, ...]
    questions: tuple[str, ...]
    follow_ups: dict[str, tuple[str, ...]]  # by follow-up question, the sentences that answer it


def _material(persona: SimulatedPersona, banned: Sequence[str]) -> _Material:
    domains = persona.domains or ("this area",)

    def usable(sentence: str) -> bool:
        return _clean(sentence) and not _is_banned(sentence, banned)

    def fill(templates: Iterable[str]) -> list[str]:
        out = []
        for index, template in enumerate(templates):
            sentence = template.format(domain=domains[index % len(domains)])
            if usable(sentence):
                out.append(sentence)
        return out

    own_statements: list[str] = []
    own_questions: list[str] = []
    for text in (*persona.beliefs, *persona.objection_patterns):
        for sentence in _sentences(text):
            if usable(sentence):
                (own_questions if sentence.endswith("?") else own_statements).append(sentence)
    own_statements += fill(_DOMAIN_SENTENCES[index % len(_DOMAIN_SENTENCES)] for index in range(len(domains)))
    return _Material(
        topics={topic: tuple(fill(templates)) for topic, templates in _TOPIC_SENTENCES.items()},
        own=tuple(dict.fromkeys(own_statements)),
        fillers=tuple(dict.fromkeys(fill(_FILLERS))),
        questions=tuple(dict.fromkeys([*own_questions, *fill(_QUESTIONS)])),
        follow_ups={question: tuple(fill(answers)) for question, answers in _FOLLOW_UP_ANSWERS.items()},
    )


def _cut(sentence: str, count: int) -> str:
    """The first count words of the sentence, ending in a full stop."""
    matches = list(_WORD.finditer(sentence))
    if count >= len(matches):
        return sentence
    text = sentence[: matches[count - 1].end()].rstrip(" ,;:-")
    return text + "."


def _content(pool: Sequence[str], budget: int, rng: random.Random) -> list[str]:
    """Whole sentences of the pool, in order, while they fit; then, with four or more words to go, a sentence
    cut to fit; then short interjections for the last few words. Exactly budget words."""
    chosen: list[str] = []
    left = budget
    for sentence in pool:
        n = words(sentence)
        if n <= left:
            chosen.append(sentence)
            left -= n
            if left == 0:
                return chosen
    while left >= 4 and pool:
        sentence = next((s for s in pool if words(s) > left and s not in chosen), None) or pool[
            rng.randrange(len(pool))
        ]
        n = min(words(sentence), left)
        chosen.append(_cut(sentence, n))
        left -= n
    while left > 0:
        n = min(left, 3)
        chosen.append(rng.choice(_INTERJECTIONS[n]))
        left -= n
    return chosen


def _turn_length(band: tuple[float, float], rules: RuleSet, rng: random.Random) -> int:
    own = max(1, round(rng.uniform(*band)))
    if rules.words_per_turn is not None:
        return rng.randint(rules.words_per_turn.min_words, rules.words_per_turn.max_words)
    if rules.max_words is not None and own > rules.max_words:
        return rng.randint(max(1, math.ceil(0.7 * rules.max_words)), rules.max_words)
    return own


@dataclass(frozen=True, slots=True)
class _Leak:
    """The enthusiasm a turn leaks: a phrase up front, and exclamation marks."""

    phrase: str | None = None
    exclaim_only: bool = False  # every leak phrase is banned: only the exclamation marks are left
    double_exclaim: bool = False


def _leak(context: _TurnContext, rng: random.Random) -> _Leak:
    rules = context.rules
    if rules.calm or rng.random() >= context.leak_share:
        return _Leak()
    # The favourite phrase most of the time. A banned phrase is a habit broken: half the time the persona
    # says nothing instead, otherwise it still leaks, with a phrase that is not banned.
    if rng.random() < FAVOURITE_PHRASE_SHARE:
        family: int | None = context.favourite
    else:
        others = [i for i in range(len(_LEAKS)) if i != context.favourite]
        family = others[rng.randrange(len(others))]
    exclaim_only = False
    allowed = [i for i in range(len(_LEAKS)) if not _family_banned(i, rules.banned_phrases)]
    if family not in allowed:
        substitute = rng.random() < SUBSTITUTE_SHARE
        family = rng.choice(allowed) if substitute and allowed else None
        exclaim_only = substitute and not allowed
    phrase = rng.choice(_LEAKS[family][1]) if family is not None else None
    double_exclaim = (family is not None or exclaim_only) and rng.random() < DOUBLE_EXCLAMATION_SHARE
    return _Leak(phrase, exclaim_only, double_exclaim)


def _slips(context: _TurnContext, rng: random.Random) -> list[str]:
    """The persona stepping out of character, or out of the tone its traits give it."""
    rules, cues = context.rules, context.cues
    slips = []
    if cues.breaks_character and not rules.in_character and rng.random() < SLIP_SHARE:
        slips.append(rng.choice(_ASSISTANT_SLIPS))
    if cues.hot_and_cold and not rules.consistent_tone and rng.random() < SLIP_SHARE:
        tone_slips = (
            _WARM_SLIPS
            if context.profile.low_agreeableness
            else (_HARSH_SLIPS if context.profile.high_agreeableness else ())
        )
        if tone_slips:
            slips.append(rng.choice(tone_slips))
    return slips


def _closing(
    context: _TurnContext,
    index: int,
    count: int,
    length: int,
    state: _CallState,
    flaw_rng: random.Random,
    content_rng: random.Random,
) -> list[str]:
    """What ends the turn: a concession (giving in), a question of the persona's own, or nothing."""
    rules, cues, material = context.rules, context.cues, context.material
    late = (index + 1) / count >= HOLD_GROUND_FROM
    if cues.gives_in and index > 0 and (late or not rules.hold_ground) and flaw_rng.random() < CONCESSION_SHARE:
        return [flaw_rng.choice(_CONCESSIONS)]
    if (
        material.questions
        and content_rng.random() < context.question_share
        and state.questions < MAX_QUESTION_SHARE * count
    ):
        question = content_rng.choice(material.questions)
        if length - words(question) >= MIN_ANSWER_WORDS:  # answer first, then ask
            state.questions += 1
            return [question]
    return []


def _fitted(front: list[str], back: list[str], length: int) -> tuple[list[str], list[str]]:
    """What the persona must say, cut to fit the turn's length first; the rest of the length is content."""
    if sum(map(words, front + back)) > length:
        back = []
    while len(front) > 1 and sum(map(words, front)) > length:
        front.pop()
    if front and words(front[0]) > length:
        front = [_cut(front[0], length).rstrip(".") + "!"]
    return front, back


def _content_pool(material: _Material, said: CandidateTurn, state: _CallState, rng: random.Random) -> list[str]:
    """Sentences to fill the turn with: on the topic, the persona's own, then fillers (its own first on a follow-up),
    and first of all what answers a follow-up that asks for something of its own; only ones not said yet in the call
    while there are any, so the persona does not repeat itself."""
    topical = list(material.topics.get(said.topic, ()))
    personal = list(material.own)
    general = list(material.fillers)
    for group in (topical, personal, general):
        rng.shuffle(group)
    answering = list(material.follow_ups.get(said.text, ()))
    rng.shuffle(answering)
    pool = answering + (personal + topical if said.follow_up else topical + personal) + general
    fresh = [sentence for sentence in pool if sentence not in state.used]
    return fresh or pool


def _persona_turn(
    persona: SimulatedPersona,
    seed: int,
    index: int,
    count: int,
    said: CandidateTurn,
    context: _TurnContext,
    state: _CallState,
) -> str:
    if index == 0 and context.cues.gives_budget and not context.rules.hold_back:
        return _rng("budget", persona.persona, seed).choice(_BUDGET_FIRST)  # nothing else, so nothing reads as doubt
    banned = context.rules.banned_phrases
    content_rng = _rng("content", persona.persona, seed, index)
    flaw_rng = _rng("flaw", persona.persona, seed, index)
    length = _turn_length(context.band, context.rules, _rng("length", persona.persona, seed, index))
    leak = _leak(context, _rng("leak", persona.persona, seed, index))

    front = ([leak.phrase] if leak.phrase is not None else []) + _slips(context, flaw_rng)
    back = _closing(context, index, count, length, state, flaw_rng, content_rng)
    front, back = _fitted([s for s in front if not _is_banned(s, banned)],
                          [s for s in back if not _is_banned(s, banned)], length)
    budget = length - sum(map(words, front + back))
    pool = _content_pool(context.material, said, state, content_rng)
    content = _content(pool, budget, content_rng) if budget > 0 else []
    state.used.update(content)

    if leak.exclaim_only and content:
        content[0] = content[0][:-1] + "!"
    text = " ".join(front + content + back)
    if (leak.double_exclaim or leak.exclaim_only) and text.endswith("."):
        text = text[:-1] + "!"
    return text


@dataclass(slots=True)
class _CallState:
    used: set[str] = field(default_factory=set)  # sentences said so far
    questions: int = 0  # turns ended with a question so far


@dataclass(frozen=True, slots=True)
class _TurnContext:
    rules: RuleSet
    cues: _Cues
    profile: PersonaProfile
    material: _Material
    band: tuple[float, float]
    leak_share: float
    favourite: int
    question_share: float


def simulate_call(
    persona: SimulatedPersona, rules: Sequence[str], seed: int, exchanges: int = DEFAULT_EXCHANGES
) -> tuple[Turn, ...]:
    """A simulated call: the candidate and the persona alternate, the candidate first (sequences 1 to
    2 * exchanges). rules are the texts of the prompt patches in force; the persona follows those it
    understands (parse_rules). Same persona, rules, seed and exchanges, same call."""
    _check_exchanges(exchanges)
    ruleset = parse_rules(rules)
    if ruleset.short and ruleset.words_per_turn is None and ruleset.max_words is None:
        ruleset = replace(ruleset, max_words=target_words_per_turn(persona.difficulty).max_words)
    cues = _cues(persona)
    context = _TurnContext(
        rules=ruleset,
        cues=cues,
        profile=profile_of(persona),
        material=_material(persona, ruleset.banned_phrases),
        band=_length_band(persona, cues),
        leak_share=_leak_share(persona, cues),
        favourite=_stable_int("favourite", persona.persona) % len(_LEAKS),
        question_share=QUESTIONING_SHARE if cues.questioning else QUESTION_SHARE,
    )
    turns: list[Turn] = []
    state = _CallState()
    for index in range(exchanges):
        said = candidate_turn(persona, seed, exchanges, turns)
        turns.append(Turn(2 * index + 1, Role.USER, said.text))
        reply = _persona_turn(persona, seed, index, exchanges, said, context, state)
        turns.append(Turn(2 * index + 2, Role.ASSISTANT, reply))
    return tuple(turns)


def _check_exchanges(exchanges: int) -> None:
    if not 1 <= exchanges <= MAX_EXCHANGES:
        raise ValueError(f"exchanges must be between 1 and {MAX_EXCHANGES} (got {exchanges})")


@dataclass(frozen=True, slots=True)
class CandidateTurn:
    topic: str  # of the script ("budget", "timeline"...), which the persona's answer draws on
    text: str
    follow_up: bool  # a follow-up on the topic before, not a new question


def candidate_turn(persona: SimulatedPersona, seed: int, exchanges: int, turns: Sequence[Turn]) -> CandidateTurn:
    """What the candidate says next in a call of exchanges exchanges, the call so far being turns (candidate and
    persona alternating, the candidate first): a follow-up on a fact the persona just gave and was not yet asked
    about, else the question the persona just avoided asked again (not twice in a row), else the script's."""
    _check_exchanges(exchanges)
    index = len(turns) // 2
    script = _script(persona, seed, exchanges)
    topic, question, follow_up = script[index]
    if index == 0:
        return CandidateTurn(topic, f"{_OPENER} {question}", follow_up)
    asked, answer = turns[-2].text, turns[-1].text
    earlier = {turn.text for turn in turns if turn.role == Role.USER}
    for fact in facts_given(answer):
        fact_topic, follow = _FACT_FOLLOW_UPS[fact]
        if follow not in earlier:
            return CandidateTurn(fact_topic, follow, True)
    avoided = words(answer) <= MINIMAL_WORDS or all(sentence.endswith("?") for sentence in _sentences(answer))
    if avoided and not asked.startswith(_ASK_AGAIN):
        return CandidateTurn(script[index - 1][0], _ASK_AGAIN + asked.removeprefix(_OPENER).strip(), True)
    return CandidateTurn(topic, question, follow_up)


def audit_simulated(persona: SimulatedPersona, turns: Sequence[Turn]) -> PersonaAudit:
    """A simulated call audited exactly as the analysis service audits a real one."""
    return audit_persona(turns, profile_of(persona))


def prompt_rules(system_prompt: str) -> tuple[str, ...]:
    """A rendered system prompt read as the stand-in reads rules: each line one (a list item without its dash), so
    it follows every instruction of the prompt it understands, wherever the prompt tells it."""
    lines = (line.strip().removeprefix("- ").strip() for line in system_prompt.splitlines())
    return tuple(line for line in lines if line)


def simulate(
    personas: Sequence[SimulatedPersona],
    rules: Sequence[str],
    calls: int,
    *,
    first_seed: int = 1,
    exchanges: int = DEFAULT_EXCHANGES,
    prompts: Mapping[str, str] | None = None,
) -> SimulationSummary:
    """calls simulated calls, the personas taking turns, seeds first_seed, first_seed + 1, ...; audited
    and summarised. The same arguments with other rules give the same candidates and seeds. A persona with a
    rendered prompt in ``prompts`` (by name) follows that prompt's instructions (prompt_rules) instead of rules."""
    if not personas:
        raise ValueError("no persona to simulate")
    played = {name: prompt_rules(prompt) for name, prompt in (prompts or {}).items()}
    audits = []
    for index in range(calls):
        persona = personas[index % len(personas)]
        told = played.get(persona.persona, rules)
        audits.append(audit_simulated(persona, simulate_call(persona, told, first_seed + index, exchanges)))
    return summarise(audits)


def summarise(audits: Sequence[PersonaAudit]) -> SimulationSummary:
    """Means of the audits' scores (2 decimals), words per persona turn (weighted by turns), flags per call and
    each call's scores."""
    calls = len(audits)
    if not calls:
        return SimulationSummary(0, AuditScoreMeans(0.0, 0.0, 0.0, 0.0, 0.0, 0.0), 0.0, 0.0)
    turns = sum(audit.persona_turn_count for audit in audits)
    spoken = sum(audit.avg_words_per_turn * audit.persona_turn_count for audit in audits)
    return SimulationSummary(
        calls=calls,
        scores=score_means(audit.scores.as_tuple() for audit in audits),
        avg_words_per_turn=round(spoken / turns, 2) if turns else 0.0,
        flagged_quotes_per_call=round(sum(len(audit.flagged_quotes) for audit in audits) / calls, 2),
        call_scores=tuple(score_means([audit.scores.as_tuple()]) for audit in audits),
        call_words_per_turn=tuple(audit.avg_words_per_turn for audit in audits),
    )


def score_means(scores: Iterable[tuple[int, int, int, int, int]]) -> AuditScoreMeans:
    """Means of (brevity, authenticity, consistency, enthusiasm_leak, pacing) tuples, rounded to 2 decimals;
    overall is the mean of the five means."""
    rows = list(scores)
    if not rows:
        return AuditScoreMeans(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    means = [sum(column) / len(rows) for column in zip(*rows, strict=True)]
    brevity, authenticity, consistency, enthusiasm_leak, pacing = (round(mean, 2) for mean in means)
    return AuditScoreMeans(brevity, authenticity, consistency, enthusiasm_leak, pacing, round(sum(means) / 5, 2))
