"""The security track's rubric: the candidate (role ``user``) answers for security, in an interview, an incident
review or a hearing; the persona asks. The factors follow the coach rubric of tests/data/tracks/security/RUBRIC.md:
threat understanding, incident handling, remediation, honesty about unknowns, communication.

Each factor counts the kinds of move a coach listens for (a kind counts once however often it is said), up to what a
good answer needs; deflection and bluffing count against honesty, evasion against communication. The English phrases
are here, the Spanish ones in ``security_es``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from analysis_svc.domain.patterns import whole_words as phrases
from analysis_svc.domain.tracks import security_es
from analysis_svc.domain.tracks.rubric import ENGLISH, Tally, TrackFactor, TrackRubric
from analysis_svc.domain.tracks.text import kinds_found, kinds_in, lowered, percent, share, turns_matching
from calls.job_tracks import Blueprint
from calls.turns import Role, Turn, words

THREAT_UNDERSTANDING = "threat_understanding"
INCIDENT_HANDLING = "incident_handling"
REMEDIATION = "remediation"
HONESTY = "honesty"
COMMUNICATION = "communication"

# Who attacks, how they get in and move, what they are after, how likely and how bad, and the cause behind it.
_THREAT = {
    "attacker": phrases(r"attackers?", r"adversar(?:y|ies)", r"threat actors?", r"nation[- ]states?", r"hackers?",
                        r"criminals?", r"insiders?", r"ransomware (?:gang|group|crew)s?", r"state[- ](?:sponsored|"
                        r"backed)"),
    "entry": phrases(r"phish\w*", r"entry point", r"initial access", r"credentials?", r"passwords?", r"stolen",
                     r"vulnerab\w*", r"exploit\w*", r"unpatched", r"misconfigur\w*", r"exposed", r"injection",
                     r"supply chain", r"build (?:system|server|pipeline)", r"third[- ]part(?:y|ies)", r"vpn",
                     r"(?:api|access|private|signing) keys?", r"tokens?", r"attack surface"),
    "movement": phrases(r"lateral(?:ly)?", r"pivot\w*", r"escalat\w* (?:privileges?|access)", r"privilege escalation",
                        r"persisten\w*", r"backdoor\w*", r"foothold", r"moved? (?:through|across|around)",
                        r"dwell time", r"exfiltrat\w*", r"command and control"),
    "assets": phrases(r"crown jewels", r"customer data", r"personal data", r"(?:card|payment|cardholder) data",
                      r"database\w*", r"source code", r"secrets?", r"pii", r"records", r"what they (?:were )?after",
                      r"what (?:they|an attacker) would (?:take|want)", r"assets?"),
    "risk": phrases(r"likelihood", r"likely", r"impact", r"blast radius", r"severity", r"threat model\w*",
                    r"risk(?:s|ier)?", r"worst case"),
    "cause": phrases(r"root cause", r"the (?:real )?cause", r"because (?:we|the|they|our)", r"how they got in",
                     r"single[- ]factor", r"no (?:mfa|multi[- ]factor|two[- ]factor)", r"symptom"),
}
FULL_THREAT_KINDS = 4

# The response in order: confirm and scope, contain, preserve evidence, eradicate, recover, tell who must know.
_RESPONSE = {
    "scope": phrases(r"scop\w*", r"triag\w*", r"confirm\w*", r"assess\w*", r"investigat\w*", r"how far"),
    "contain": phrases(r"contain\w*", r"isolat\w*", r"cut (?:off|it off)", r"disconnect\w*", r"quarantin\w*",
                       r"took (?:\w+ )?offline", r"shut (?:it |\w+ )?down", r"block\w*"),
    "evidence": phrases(r"forensic\w*", r"evidence", r"preserv\w*", r"logs?", r"logging", r"snapshot\w*",
                        r"images? of", r"timeline"),
    "eradicate": phrases(r"eradicat\w*", r"remov\w*", r"rebuil\w*", r"wip\w*", r"reset\w*", r"rotat\w*",
                         r"revok\w*", r"kick(?:ed)? (?:them|\w+) out", r"still inside", r"still in the"),
    "recover": phrases(r"recover\w*", r"restor\w*", r"back online", r"bring (?:it|\w+) back", r"backups?"),
    "notify": phrases(r"notif\w*", r"disclos\w*", r"regulators?", r"law enforcement", r"fbi", r"cisa", r"told (?:the "
                      r"|our )?(?:customers|board|regulators)", r"inform\w*", r"public(?:ly)?", r"customers knew",
                      r"incident (?:commander|response)", r"war room", r"escalat\w*"),
}
FULL_RESPONSE_KINDS = 4

# Fixes for the cause and the process, prioritised and verified.
_FIX = {
    "control": phrases(r"mfa", r"multi[- ]factor", r"two[- ]factor", r"2fa", r"least privilege", r"segment\w*",
                       r"patch\w*", r"encrypt\w*", r"harden\w*", r"allow ?list\w*", r"zero trust",
                       r"rotat\w* (?:the |all |our )?(?:keys|credentials|secrets|passwords)", r"secrets? manag\w*",
                       r"vault", r"sign(?:ed|ing) builds?", r"reproducible builds?", r"password manager"),
    "process": phrases(r"process(?:es)?", r"polic(?:y|ies)", r"owner(?:ship)?", r"accountab\w*", r"inventory",
                       r"patch management", r"change management", r"review\w*", r"training", r"playbooks?",
                       r"runbooks?", r"tabletop"),
    "priority": phrases(r"first", r"priorit\w*", r"most (?:urgent|important|critical)", r"highest risk", r"before "
                        r"anything else", r"short[- ]term", r"long[- ]term", r"quick wins?"),
    "verify": phrases(r"verif\w*", r"test(?:s|ed|ing)?", r"pen(?:etration)? ?tests?", r"red team\w*", r"audit\w*",
                      r"monitor\w*", r"alert\w*", r"detect\w*", r"measur\w*", r"scan\w*", r"drills?"),
    "commit": phrases(r"we (?:will|are going to|'re going to|have since|now)", r"i (?:would|will|'d)",
                      r"going forward", r"from now on", r"plan(?:ned)? to", r"(?:the|our) plan", r"next (?:step|we)"),
}
FULL_FIX_KINDS = 4

# Saying what is known, what is not and how it will be found out; owning mistakes.
_OWNS = phrases(
    r"(?:we|i) (?:made|make) (?:a |some )?mistakes?", r"(?:we|i) (?:was|were) wrong", r"(?:that's|that is|it was|"
    r"it's) (?:on (?:us|me)|our (?:fault|failure|responsibility)|my (?:fault|responsibility))", r"(?:we|i) failed",
    r"(?:we|i) should(?:'ve| have)", r"(?:we|i) (?:missed|didn't catch|got it wrong)", r"i take responsibility",
    r"(?:we|i) own (?:it|that|this)", r"(?:i'm|we're|i am|we are) sorry", r"(?:i|we) apologi[sz]e",
)
_UNKNOWN = phrases(
    r"(?:we|i) (?:don't|do not) (?:yet )?know", r"(?:not|isn't|aren't) (?:yet )?(?:known|clear|confirmed)",
    r"(?:we|i) (?:can't|cannot) (?:yet )?(?:say|confirm|rule out)", r"still (?:investigating|looking|finding out|"
    r"working out)", r"(?:we'll|we will|i'll|i will) find out", r"(?:i'm|i am|we're|we are) not (?:yet )?sure",
    r"(?:i|we) don't have (?:that|the) (?:answer|data|number)", r"what we know (?:so far|now)", r"so far",
    r"(?:we|i) (?:need|have) to (?:confirm|check|verify)", r"(?:don't|do not) (?:yet )?have (?:evidence|visibility)",
)
_DEFLECTS = phrases(
    r"intern", r"(?:an|one|a single) (?:individual|employee|person)", r"(?:not|wasn't) (?:our|my) fault",
    r"(?:we|i) followed (?:the |our )?(?:protocol|process|procedure)s?", r"(?:nothing|no one) could have",
    r"(?:very|highly|extremely) sophisticated", r"(?:i|we) (?:can't|cannot|won't) comment", r"no comment",
    r"(?:i|we) (?:don't|do not) recall", r"(?:completely|fully|totally|100 percent|a hundred percent) secure",
    r"(?:defended|protected) against (?:everything|all)", r"never been breached", r"blame\w*",
    r"(?:i'd|i would|we'd|we would) (?:have to|need to) get back to you", r"not (?:aware|in a position)",
)
OWNING_FULL = 2
DEFLECTION_COST = 0.35

_CLARIFIES = phrases(r"(?:do|did) you mean", r"(?:just )?to clarify", r"are you asking", r"which (?:part|system|one)",
                     r"can i (?:ask|check)", r"what(?:'s| is) the (?:scope|context)", r"before i answer")
_STRUCTURE = phrases(r"first(?:ly)?", r"second(?:ly)?", r"third", r"then", r"finally", r"next", r"after that",
                     r"in short", r"the short answer", r"two things", r"three things")
_EVADES = phrases(r"(?:i|we) (?:can't|cannot) (?:speak|talk) to", r"(?:that's|that is) not (?:something|a question)",
                  r"(?:i|we) (?:don't|do not) recall", r"no comment", r"(?:i'd|i would) rather not",
                  r"(?:let me|i'll) get back to you", r"move on")
# An answer long enough to say something and short enough to be heard, in words per turn.
ANSWER_WORDS = (15, 160)


@dataclass(frozen=True, slots=True)
class SecurityPhrases:
    """What the measures listen for in the candidate's answers, in one language."""

    kinds: Mapping[str, Mapping[str, re.Pattern[str]]]  # threat, response and fix, each kind counted once
    owns: re.Pattern[str]  # a mistake owned
    unknown: re.Pattern[str]  # what is not known yet, and how it will be
    deflects: re.Pattern[str]
    clarifies: re.Pattern[str]
    structure: re.Pattern[str]
    evades: re.Pattern[str]


ENGLISH_PHRASES = SecurityPhrases({"threat": _THREAT, "response": _RESPONSE, "fix": _FIX}, _OWNS, _UNKNOWN,
                                  _DEFLECTS, _CLARIFIES, _STRUCTURE, _EVADES)
SPANISH_PHRASES = SecurityPhrases(security_es.KINDS, security_es.OWNS, security_es.UNKNOWN, security_es.DEFLECTS,
                                  security_es.CLARIFIES, security_es.STRUCTURE, security_es.EVADES)


def tally(turns: Sequence[Turn], listened: SecurityPhrases) -> Tally:
    said = lowered(turns, Role.USER)
    kinds = set().union(*(kinds_found(said, group, kinds) for group, kinds in listened.kinds.items()))
    return Tally(frozenset(kinds), {
        "answers": len(said),
        "fitting": sum(ANSWER_WORDS[0] <= words(text) <= ANSWER_WORDS[1] for text in said),
        "shaped": turns_matching(said, listened.structure) + turns_matching(said, listened.clarifies),
        "evades": turns_matching(said, listened.evades),
        "owns": turns_matching(said, listened.owns) + turns_matching(said, listened.unknown),
        "deflects": turns_matching(said, listened.deflects),
    })


def scores(call: Tally) -> dict[str, int]:
    if not call.count("answers"):
        return dict.fromkeys(RUBRIC_NAMES, 0)
    honesty = 0.5 + 0.5 * share(call.count("owns"), OWNING_FULL) - DEFLECTION_COST * call.count("deflects")
    communication = (0.6 * call.count("fitting") / call.count("answers") + 0.4 * share(call.count("shaped"), 2)
                     - 0.25 * call.count("evades"))
    return {
        THREAT_UNDERSTANDING: percent(share(kinds_in(call.kinds, "threat"), FULL_THREAT_KINDS)),
        INCIDENT_HANDLING: percent(share(kinds_in(call.kinds, "response"), FULL_RESPONSE_KINDS)),
        REMEDIATION: percent(share(kinds_in(call.kinds, "fix"), FULL_FIX_KINDS)),
        HONESTY: percent(honesty),
        COMMUNICATION: percent(communication),
    }


FACTORS = (
    TrackFactor(THREAT_UNDERSTANDING, "the assets, who would attack them and how, likelihood and impact, the root "
                "cause told from the symptom", "kinds of threat talk: attacker, entry point, movement, assets, risk, "
                "cause (4 of 6 for full marks)", "has not said who would attack what, and how"),
    TrackFactor(INCIDENT_HANDLING, "an ordered response: scope, contain, preserve evidence, eradicate, recover, tell "
                "who must know", "steps of the response named (4 of 6 for full marks)",
                "has not walked through containing and scoping the incident"),
    TrackFactor(REMEDIATION, "fixes for the root cause and the process, prioritised, and how they will be verified",
                "kinds of remediation: a control, a process, a priority, a verification, a commitment (4 of 5 for "
                "full marks)", "no remediation plan yet"),
    TrackFactor(HONESTY, "what is known, what is not yet and how it will be found out; mistakes owned; no bluffing",
                "turns owning a mistake or naming an unknown raise it, deflection and overclaiming lower it",
                "deflecting rather than owning what is not known"),
    TrackFactor(COMMUNICATION, "answers the question asked, structured, at the audience's level",
                "answers of a hearable length, structure and clarifying questions, less evasions",
                "answers are evasive or hard to follow"),
)
RUBRIC_NAMES = tuple(factor.name for factor in FACTORS)

RUBRIC = TrackRubric(
    Blueprint.SECURITY, FACTORS,
    # The coach rubric's weights until devtools.fit_track_rubrics fits them (docs/say_meter.md).
    {THREAT_UNDERSTANDING: 25, INCIDENT_HANDLING: 20, REMEDIATION: 20, HONESTY: 20, COMMUNICATION: 15},
    {ENGLISH: partial(tally, listened=ENGLISH_PHRASES), security_es.LANGUAGE: partial(tally, listened=SPANISH_PHRASES)},
    scores,
)
