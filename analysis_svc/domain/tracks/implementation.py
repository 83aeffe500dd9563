"""The implementation track's rubric: the candidate (role ``user``) leads a software implementation from the vendor's
side and runs a kickoff, a status call or a recovery call; the persona is the customer's project owner or sponsor.
The factors follow the coach rubric of tests/data/tracks/implementation/RUBRIC.md: structure of the call, scope and
milestones, owners and governance, risks, data and adoption, candour with the customer.

The kinds of move were written from the rubric and knowledge of how implementation projects are run, before any
labelled conversation of the track was read. The English phrases are here, the Spanish ones in ``implementation_es``."""

from __future__ import annotations

from analysis_svc.domain.patterns import whole_words as phrases
from analysis_svc.domain.tracks import implementation_es
from analysis_svc.domain.tracks.rubric import ENGLISH, Balance, Coverage, Moves, TrackFactor, moves_rubric
from calls.job_tracks import Blueprint
from calls.turns import Role

STRUCTURE = "structure"
SCOPE = "scope"
GOVERNANCE = "governance"
RISKS = "risks"
CANDOUR = "candour"

_DAY = r"(?:monday|tuesday|wednesday|thursday|friday|tomorrow|end of (?:the )?(?:day|week|month))"
_MONTH = (r"(?:january|february|march|april|may|june|july|august|september|october|november|december|q[1-4]|"
          r"(?:the )?end of (?:the )?(?:quarter|year))")

# The call's purpose and agenda, checked with the customer, and a close that reads back actions with owners and dates.
_STRUCTURE = {
    "purpose": phrases(r"(?:the )?(?:purpose|goal|aim) (?:of|for) (?:today|this (?:call|meeting|session))",
                       r"today (?:we'll|we will|i'd like to|we want to|i want to)", r"agenda",
                       r"what we(?:'ll| will| want to) cover"),
    "agenda_check": phrases(r"does (?:that|this) (?:work|sound (?:right|good))", r"anything (?:to add|you'd (?:like "
                            r"to )?add|missing|else (?:you want|to cover))", r"before we (?:start|begin|dive in)",
                            r"is that (?:ok|okay|alright) with you"),
    "recap": phrases(r"to (?:recap|summari[sz]e|sum up|wrap up)", r"let me (?:recap|read back|summari[sz]e|go over)",
                     r"so we(?:'ve| have)? agreed", r"(?:the )?decisions (?:are|were|we made)", r"action items?",
                     r"actions? (?:from|for) (?:today|this)"),
    "owner_date": phrases(r"(?:will|to) (?:send|share|have|get|set up|book|confirm|draft)\b.{0,40}\bby " + _DAY,
                          r"(?:owns|will own|owner (?:is|for))", r"by " + _DAY),
    "next_meeting": phrases(r"next (?:call|meeting|check[- ]?in|session|steering)", r"we(?:'ll| will) (?:meet|speak|"
                            r"talk) again", r"same time next", r"see you (?:on|next)"),
}
FULL_STRUCTURE_KINDS = 4

# What is in and out, how success is judged, dated milestones with their dependencies, how a change is decided.
_SCOPE = {
    "in_out": phrases(r"in scope", r"out of scope", r"not in (?:the )?(?:scope|contract)", r"phase (?:one|two|1|2)",
                      r"exclud\w*", r"(?:the )?contract (?:covers|includes)", r"statement of work", r"sow"),
    "success": phrases(r"success (?:criteria|looks like|means)", r"how (?:will|do) we (?:know|judge|measure)",
                       r"kpis?", r"acceptance criteria", r"sign[- ]off criteria", r"definition of done"),
    "milestones": phrases(r"milestones?", r"go[- ]live", r"uat", r"user acceptance", r"cut ?over", r"pilot",
                          r"hyper ?care", r"design (?:sign[- ]off|phase)", r"build phase"),
    "dates": phrases(r"(?:by|on|in|for) " + _MONTH, r"week \d+", r"\d+ weeks", r"(?:the )?\d+(?:st|nd|rd|th) of",
                     r"(?:by|on) the \d+"),
    "dependencies": phrases(r"depends? on", r"dependenc(?:y|ies)", r"blocked (?:by|on)", r"before we can",
                            r"prerequisites?", r"critical path", r"(?:needs?|need to have) .{0,30} first"),
    "change_control": phrases(r"change (?:request|control|order|process)", r"scope change", r"(?:that|this) would be "
                              r"a change", r"impact on (?:the )?(?:timeline|budget|go[- ]live)", r"if (?:you|we) want "
                              r"to add", r"(?:park|parking lot|phase two backlog)"),
}
FULL_SCOPE_KINDS = 4
# Agreeing to everything asked.
_AGREES_TO_ALL = phrases(r"we can do (?:all|everything)(?: of (?:that|it))?", r"no problem,? we(?:'ll| will) "
                         r"(?:add|include|do)", r"sure,? we can (?:add|throw in|include)", r"whatever you need",
                         r"(?:at no|for no) (?:extra )?(?:cost|charge)")
AGREES_TO_ALL_COST = 0.2

# Owners on both sides, who decides, how issues are escalated, and a reporting cadence.
_GOVERNANCE = {
    "sponsor": phrases(r"(?:executive )?sponsors?", r"steering (?:committee|group)", r"executive (?:owner|"
                       r"stakeholder)s?"),
    "owners": phrases(r"project (?:owner|manager|lead)s?", r"admin(?:istrator)?s?", r"subject (?:matter )?experts?",
                      r"smes?", r"point of contact", r"who (?:owns|will own|is responsible|on your side)",
                      r"owner (?:on|from) (?:your|our) side", r"champions?", r"(?:your|our) (?:lead|owner) for"),
    "decides": phrases(r"who (?:decides|signs? off|approves|makes the (?:call|decision))", r"decision[- ]makers?",
                       r"signs? off", r"approv(?:e|es|al|als)", r"raci"),
    "escalation": phrases(r"escalat\w*"),
    "cadence": phrases(r"weekly", r"bi-?weekly", r"fortnightly", r"every (?:week|two weeks|monday|tuesday|wednesday|"
                       r"thursday|friday|month)", r"status (?:reports?|updates?|calls?|meetings?)", r"cadence",
                       r"monthly (?:steering|review|report)"),
}
FULL_GOVERNANCE_KINDS = 4

# The customer's capacity, data, integrations, fixed dates and users probed, and a mitigation agreed for each risk.
_RISKS = {
    "capacity": phrases(r"capacity", r"bandwidth", r"how much time (?:can|will|does)", r"availab\w* (?:of|on) your",
                        r"hours a week", r"backfill\w*", r"who (?:on your side|from your team) (?:can|will)"),
    "data": phrases(r"data (?:migration|quality|sources?|clean\w*|mapping|exports?|imports?|owners?)", r"migrat\w*",
                    r"spreadsheets?", r"legacy data", r"source systems?", r"historical data"),
    "integrations": phrases(r"integrat\w*", r"apis?", r"sso", r"single sign[- ]on", r"erp", r"crm", r"interfaces?",
                            r"connectors?"),
    "fixed_dates": phrases(r"hard (?:deadline|date)", r"(?:can't|cannot|can not) (?:move|slip)", r"fixed date",
                           r"year[- ]end", r"regulat\w* (?:deadline|date)", r"blackout", r"(?:code|change) freeze",
                           r"peak season"),
    "users": phrases(r"end users?", r"training", r"adoption", r"change management", r"roll ?out", r"super ?users?",
                     r"onboard\w*", r"who (?:will|is going to) use"),
    "probing": phrases(r"what (?:worries|concerns) you", r"what (?:could|might) (?:go wrong|derail|get in the way|"
                       r"slow)", r"any (?:risks|concerns)", r"what happened (?:last time|before|with)",
                       r"tell me more about", r"what else (?:should|do) (?:i|we) know"),
    "mitigation": phrases(r"mitigat\w*", r"contingency", r"plan b", r"fallback", r"buffer", r"to reduce (?:the |that )?"
                          r"risk", r"risk (?:log|register)", r"(?:let's|we'll|we will) (?:build in|plan for|add a)"),
}
FULL_RISK_KINDS = 5

# Plain status, concerns answered, no promise beyond the team, options when something slips; against: spin.
_PLAIN = phrases(
    r"(?:we're|we are|it's|that's|this is) (?:late|behind|at risk|slipping)", r"we (?:missed|slipped|will miss)",
    r"(?:i|we) (?:can't|cannot|won't be able to) (?:promise|commit|deliver|make)", r"to be (?:honest|straight|"
    r"transparent|clear|frank)", r"honestly", r"the (?:real )?reason (?:is|was)", r"(?:our|my) (?:mistake|fault)",
    r"(?:i|we) got (?:that|it) wrong", r"(?:the )?options (?:are|we have)", r"we (?:could|can) either",
    r"(?:you're|you are) right", r"(?:that's|that is) a fair (?:concern|point|question)",
)
_SPIN = phrases(
    r"(?:don't|do not) worry", r"no problem at all", r"everything(?:'s| is) (?:on track|fine|under control|great)",
    r"(?:100|a hundred) ?(?:%|percent)", r"guarantee\w*", r"(?:that's|it's|it is) (?:your|the customer's|their) "
    r"fault", r"you (?:didn't|failed to|never)", r"(?:we|i) (?:can|will) (?:definitely|absolutely) (?:do|deliver|"
    r"make)", r"trust me", r"nothing to worry about",
)
FULL_PLAIN = 3
SPIN_COST = 0.3

MOVES = Moves(Role.USER, {"structure": _STRUCTURE, "scope": _SCOPE, "governance": _GOVERNANCE, "risks": _RISKS},
              {"agrees_to_all": _AGREES_TO_ALL, "plain": _PLAIN, "spin": _SPIN})

FACTORS = (
    TrackFactor(STRUCTURE, "the call's purpose and agenda, checked with the customer and kept to; a close reading "
                "back decisions and actions with owners and dates, and the next meeting", "kinds of structure: a "
                "purpose or agenda, the agenda checked, a recap, an action with an owner or a date, the next meeting "
                "(4 of 5 for full marks)", "has not set an agenda or closed with owners and dates"),
    TrackFactor(SCOPE, "what is in and out of scope, how success is judged, dated milestones and their "
                "dependencies, how a change of scope is decided", "kinds of scope talk: in and out, success "
                "criteria, milestones, dates, dependencies, change control (4 of 6 for full marks); agreeing to "
                "everything costs 20", "has not pinned down scope and dated milestones"),
    TrackFactor(GOVERNANCE, "owners on both sides, who decides, how issues are escalated, a reporting cadence",
                "kinds of governance: a sponsor, owners, who decides, escalation, a cadence (4 of 5 for full marks)",
                "has not named owners, escalation and a reporting cadence"),
    TrackFactor(RISKS, "the customer's capacity, data, integrations, fixed dates and users probed, and a mitigation "
                "with an owner for each risk", "kinds of risk talk: capacity, data, integrations, fixed dates, users "
                "and adoption, follow-up probes, mitigations (5 of 7 for full marks)",
                "has not probed risks, data and adoption"),
    TrackFactor(CANDOUR, "answers concerns directly, says plainly what is late or at risk and why, promises only what "
                "the team can deliver, offers options when something slips", "from 50: plain status, a fair point "
                "conceded or options offered raise it (three turns for full marks), each spin, blame or "
                "overpromise costs 30", "is reassuring rather than saying plainly where the project stands"),
)

RUBRIC = moves_rubric(
    Blueprint.IMPLEMENTATION, FACTORS,
    # The coach rubric's weights (docs/say_meter.md: fitting them did not pay on the security and HR sets).
    {STRUCTURE: 15, SCOPE: 20, GOVERNANCE: 20, RISKS: 25, CANDOUR: 20},
    {ENGLISH: MOVES, implementation_es.LANGUAGE: implementation_es.MOVES},
    {STRUCTURE: Coverage("structure", FULL_STRUCTURE_KINDS),
     SCOPE: Coverage("scope", FULL_SCOPE_KINDS, "agrees_to_all", AGREES_TO_ALL_COST),
     GOVERNANCE: Coverage("governance", FULL_GOVERNANCE_KINDS),
     RISKS: Coverage("risks", FULL_RISK_KINDS),
     CANDOUR: Balance("plain", FULL_PLAIN, "spin", SPIN_COST)},
    {"wandering_call": STRUCTURE, "data_mess": RISKS, "reluctant_team": RISKS, "integration_surprise": RISKS,
     "key_person_leaving": GOVERNANCE, "go_live_pressure": CANDOUR, "scope_creep": SCOPE},
)
