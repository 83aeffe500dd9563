"""The HR track's rubric: the candidate rehearses running a hiring conversation (role ``user``, the interviewer); the
persona plays the job candidate. The factors follow the coach rubric of tests/data/tracks/hr/RUBRIC.md: structure,
legality of questions, candidate experience, evidence gathering, fairness of judgement.

Legality is the guardrails' detector of the questions a hiring manager may not legally ask (the one the HR track's
safety policy screens the candidate's messages with), so a question the live call flags is the question the Say Meter
counts. The guardrails' detector reads English only: in Spanish the track counts the questions of its own Spanish list
(``hr_es``, with the Spanish phrases of every other measure), which the live call's filter does not flag.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from analysis_svc.domain.patterns import whole_words as phrases
from analysis_svc.domain.tracks import hr_es
from analysis_svc.domain.tracks.rubric import ENGLISH, Tally, TrackFactor, TrackRubric
from analysis_svc.domain.tracks.text import kinds_found, kinds_in, lowered, percent, share, turns_matching
from calls.job_tracks import Blueprint
from calls.turns import Role, Turn
from guardrails.filters import ContentFilter, FilterCategory, FilterDecision, screen

STRUCTURE = "structure"
LEGALITY = "legality"
CANDIDATE_EXPERIENCE = "candidate_experience"
EVIDENCE = "evidence"
FAIRNESS = "fairness"

UNLAWFUL_QUESTIONS = (ContentFilter("illegal-interview-questions", FilterCategory.ILLEGAL_INTERVIEW_QUESTIONS,
                                    FilterDecision.FLAG),)
# Legality points lost for each question the detector flags: two unlawful questions leave nothing.
UNLAWFUL_QUESTION_COST = 0.5

# The interview's frame: who is in the room and what the role is, how it will run, time for the candidate's
# questions, and the next steps.
_STRUCTURE = {
    "opening": phrases(r"thanks? (?:you )?for (?:coming|joining|your time|making the time)", r"my name is",
                       r"i'm (?:the|a|\w+,? the) \w+", r"i lead", r"nice to meet you", r"welcome"),
    "role": phrases(r"the role", r"this (?:role|position|job)", r"the (?:position|job) (?:is|involves)",
                    r"the team (?:is|does)", r"you(?:'d| would) be (?:working|responsible|reporting)"),
    "plan": phrases(r"(?:how|the way) (?:the|this) (?:interview|conversation|call) (?:will|is going to)",
                    r"(?:we'll|we will|i'll|i will) (?:start|begin) (?:with|by)", r"agenda", r"(?:\w+|\d+) minutes",
                    r"(?:a few|some) questions about", r"then (?:we'll|i'll|you'll)", r"at the end"),
    "their_questions": phrases(r"(?:any|what) questions (?:do you have |for (?:me|us))", r"questions for (?:me|us)",
                               r"anything (?:you'd like|you want) to ask", r"what would you like to know"),
    "next_steps": phrases(r"next steps?", r"(?:you'll|you will) hear (?:from (?:us|me) )?(?:by|within|on|back)",
                          r"(?:by|on) (?:monday|tuesday|wednesday|thursday|friday)", r"within (?:a|\w+|\d+) "
                          r"(?:days?|weeks?)", r"second round", r"final round", r"the process (?:is|from here)"),
}
FULL_STRUCTURE_KINDS = 4

# Behavioural questions and probes that gather evidence, rather than taking answers as given.
_EVIDENCE = {
    "example": phrases(r"tell me about a time", r"give me an example", r"(?:an|one|a specific) example",
                       r"describe a (?:time|situation|project)", r"walk me through", r"a time when",
                       r"(?:a|the) situation where"),
    "own_part": phrases(r"what (?:exactly |specifically )?did you (?:do|say|decide|change|build)",
                        r"(?:your|you) (?:own )?(?:part|role) in", r"what was your", r"you personally",
                        r"what exactly"),
    "outcome": phrases(r"what (?:was|were) the (?:result|outcome|impact)s?", r"what happened (?:next|then|after)",
                       r"how did (?:it|that) (?:go|turn out|end)", r"how did you (?:measure|know)", r"results?"),
    "reflection": phrases(r"(?:what )?would you do (?:it )?differently", r"what did you learn", r"looking back",
                          r"in hindsight", r"what went wrong"),
    "check": phrases(r"how (?:many|much|long|big)", r"what (?:numbers|figures|size)", r"how did you (?:get|arrive)",
                     r"can you (?:say|tell me) more", r"why did you", r"how so"),
}
FULL_EVIDENCE_KINDS = 4

_COURTESY = phrases(r"thank you", r"thanks", r"take your time", r"(?:good|great|nice) to (?:meet|see)",
                    r"(?:that's|that is) (?:a )?(?:good|great|helpful|interesting)", r"appreciate",
                    r"no rush", r"(?:sorry|apologies) (?:for|about) (?:the|keeping|making)")
_DISRESPECT = phrases(
    r"stop you (?:right )?there", r"let's (?:be quick|hurry|make this quick)", r"(?:i|we) don't have (?:much|long|"
    r"all day)", r"(?:where|what) were we", r"i forgot", r"whatever", r"waste of (?:time|my time)", r"not (?:really )?"
    r"listening", r"hurry up", r"(?:you|that) (?:sound|sounds) (?:nervous|silly|stupid)", r"calm down",
    r"(?:running|i'm|i am) late", r"hold on,? (?:i|let me) (?:need to|have to) (?:take|answer)", r"hotel",
    r"typing test", r"photo",
)
DISRESPECT_COST = 0.3

# Judging before the evidence is in: a verdict, a stereotype, or the outcome signalled.
_PREJUDGES = phrases(
    r"(?:you|people like you) (?:won't|wouldn't|will not|would not) (?:stay|last|fit)", r"over[- ]?qualified",
    r"under[- ]?qualified", r"(?:you're|you are) (?:too|not) (?:old|young|experienced|senior|junior)",
    r"people like you", r"at your age", r"(?:you've|you have) got the job", r"the job is yours",
    r"(?:i'm|i am) (?:confident|sure) (?:of|about) your chances", r"(?:i'm|i am) sure you'll (?:get|be)",
    r"you'd be perfect", r"(?:you're|you are) (?:a )?(?:perfect|great) fit", r"(?:i|we) (?:can )?already (?:tell|know)",
    r"honestly,? you", r"(?:the )?other candidates? (?:is|was|are|were) (?:better|stronger)",
    r"(?:not|isn't) (?:what|who) we(?:'re| are) looking for",
)
_CRITERIA = phrases(r"criteria", r"scorecard", r"same questions", r"every candidate", r"the (?:role's|job's) "
                    r"requirements", r"(?:we|i)(?:'ll| will) (?:compare|assess|evaluate) (?:against|on)")
PREJUDGING_COST = 0.4


def unlawful_questions(texts: Sequence[str]) -> int:
    """The interviewer's turns that ask something a hiring manager may not legally ask (the guardrails' detector)."""
    return sum(bool(screen(text, UNLAWFUL_QUESTIONS)) for text in texts)


@dataclass(frozen=True, slots=True)
class HrPhrases:
    """What the measures listen for in the interviewer's turns, in one language."""

    kinds: Mapping[str, Mapping[str, re.Pattern[str]]]  # structure and evidence, each kind counted once
    courtesy: re.Pattern[str]
    disrespect: re.Pattern[str]
    prejudges: re.Pattern[str]
    criteria: re.Pattern[str]
    unlawful: Callable[[Sequence[str]], int]  # the turns asking what may not be asked


ENGLISH_PHRASES = HrPhrases({"structure": _STRUCTURE, "evidence": _EVIDENCE}, _COURTESY, _DISRESPECT, _PREJUDGES,
                            _CRITERIA, unlawful_questions)
SPANISH_PHRASES = HrPhrases(hr_es.KINDS, hr_es.COURTESY, hr_es.DISRESPECT, hr_es.PREJUDGES, hr_es.CRITERIA,
                            partial(turns_matching, pattern=hr_es.UNLAWFUL))


def tally(turns: Sequence[Turn], listened: HrPhrases) -> Tally:
    said = lowered(turns, Role.USER)
    return Tally(frozenset().union(*(kinds_found(said, group, kinds) for group, kinds in listened.kinds.items())), {
        "turns": len(said),
        "courtesy": turns_matching(said, listened.courtesy),
        "disrespect": turns_matching(said, listened.disrespect),
        "prejudges": turns_matching(said, listened.prejudges),
        "criteria": turns_matching(said, listened.criteria),
        "unlawful": listened.unlawful(said),
    })


def scores(call: Tally) -> dict[str, int]:
    if not call.count("turns"):
        return dict.fromkeys(RUBRIC_NAMES, 0)
    experience = 0.5 + 0.5 * share(call.count("courtesy"), 2) - DISRESPECT_COST * call.count("disrespect")
    fairness = 1 - PREJUDGING_COST * call.count("prejudges") + 0.2 * bool(call.count("criteria"))
    return {
        STRUCTURE: percent(share(kinds_in(call.kinds, "structure"), FULL_STRUCTURE_KINDS)),
        LEGALITY: percent(1 - UNLAWFUL_QUESTION_COST * call.count("unlawful")),
        CANDIDATE_EXPERIENCE: percent(experience),
        EVIDENCE: percent(share(kinds_in(call.kinds, "evidence"), FULL_EVIDENCE_KINDS)),
        FAIRNESS: percent(fairness),
    }


FACTORS = (
    TrackFactor(STRUCTURE, "an opening with the role and how the interview will run, job questions in order, time "
                "for the candidate's questions, a close with next steps", "parts of the frame said: opening, role, "
                "plan, the candidate's questions, next steps (4 of 5 for full marks)",
                "has not framed the interview (the role, how it runs, next steps)"),
    TrackFactor(LEGALITY, "every question about the job; nothing about age, family, pregnancy, religion, origin, "
                "health", "the guardrails' unlawful-question detector on the interviewer's turns: each question it "
                "flags costs half", "asked a question a hiring manager may not legally ask", raised_first=True),
    TrackFactor(CANDIDATE_EXPERIENCE, "prepared, respectful, attentive; the candidate leaves knowing where they stand",
                "courtesy raises it, dismissive or unsettling moves lower it", "the candidate is not being treated "
                "with care"),
    TrackFactor(EVIDENCE, "specific past examples asked for and probed: what exactly they did, what happened, what "
                "they would do differently", "kinds of probe: an example, their own part, the outcome, reflection, a "
                "check of a claim (4 of 5 for full marks)", "not asking for and probing specific examples"),
    TrackFactor(FAIRNESS, "judged on the evidence against the role's criteria; no verdict before the evidence is in",
                "prejudging or signalling the outcome lowers it, naming the criteria raises it",
                "judging the candidate before the evidence is in"),
)
RUBRIC_NAMES = tuple(factor.name for factor in FACTORS)

RUBRIC = TrackRubric(
    Blueprint.HR, FACTORS,
    # The coach rubric's weights until devtools.fit_track_rubrics fits them (docs/say_meter.md).
    {STRUCTURE: 20, LEGALITY: 15, CANDIDATE_EXPERIENCE: 20, EVIDENCE: 30, FAIRNESS: 15},
    {ENGLISH: partial(tally, listened=ENGLISH_PHRASES), hr_es.LANGUAGE: partial(tally, listened=SPANISH_PHRASES)},
    scores,
)
