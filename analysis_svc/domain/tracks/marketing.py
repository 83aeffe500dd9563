"""The marketing track's rubric: the candidate (role ``user``) pitches a campaign or a strategy, to a client's
marketer, their own chief marketing officer or board, or as an interview case; the persona judges the pitch. The
factors follow the coach rubric of tests/data/tracks/marketing/RUBRIC.md: audience and insight, positioning and big
idea, plan (channels, budget, timeline), measurement and contingency, handling the marketer.

The kinds of move were written from the rubric and knowledge of how campaigns are pitched and judged, before any
labelled conversation of the track was read. The English phrases are here, the Spanish ones in ``marketing_es``."""

from __future__ import annotations

from analysis_svc.domain.patterns import whole_words as phrases
from analysis_svc.domain.tracks import marketing_es
from analysis_svc.domain.tracks.rubric import ENGLISH, Coverage, Moves, TrackFactor, moves_rubric
from calls.job_tracks import Blueprint
from calls.turns import Role

AUDIENCE = "audience"
BIG_IDEA = "big_idea"
PLAN = "plan"
MEASUREMENT = "measurement"
HANDLING = "handling"

_NUMBER = r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|twenty|fifty|a hundred)"
_MONTHS = (r"(?:january|february|march|april|may|june|july|august|september|october|november|december|spring|summer|"
           r"autumn|fall|winter)")

# Who the campaign is for, narrowly, what they do, want and fear, and the evidence the insight rests on.
_AUDIENCE = {
    "segment": phrases(r"target(?:ing)? (?:audience|customers?|segment|market)", r"segments?", r"(?:buyer |customer )?"
                       r"personas?", r"icp", r"ideal customers?", r"(?:aged|ages) " + _NUMBER, _NUMBER + r" to "
                       + _NUMBER + r"[- ]year[- ]olds", r"(?:first[- ]time|new|young|busy|working|small[- ]business|"
                       r"urban|lapsed|existing) (?:buyers|parents|mums|moms|dads|owners|professionals|customers|"
                       r"homeowners|renters|users)", r"(?:people|customers|buyers|parents|owners|users) who"),
    "behaviour": phrases(r"they (?:want|need|fear|worry|care|feel|hate|love|use|buy|spend|search|shop|watch|read|"
                         r"trust)", r"(?:their|the) (?:pain points?|frustrations?|motivations?|habits?|fears?|"
                         r"worries)", r"jobs? to be done", r"what (?:keeps them|they (?:really )?(?:want|care))"),
    "evidence": phrases(r"research", r"surveys?", r"(?:the |our |your )?data (?:shows?|says|tells)",
                        r"interviews? with", r"focus groups?", r"we (?:found|learned|saw|tested|asked)", r"analytics",
                        r"search (?:data|volume|trends)", r"social listening", r"(?:customer )?reviews", r"insights?"),
    "asks_first": phrases(r"who (?:are|is) (?:your|the) (?:best |current |typical |ideal )?(?:customers?|buyers?|"
                          r"audience)", r"what do you (?:already )?know about", r"what does your (?:data|research)",
                          r"who (?:buys|is buying|are you trying to reach)", r"(?:tell|help) me (?:more )?about "
                          r"(?:your|the) (?:customers?|audience|buyers?)"),
}
FULL_AUDIENCE_KINDS = 3
_EVERYONE = phrases(r"everyone", r"everybody", r"all ages", r"the general public", r"(?:the )?mass market",
                    r"anyone (?:and everyone|who)")
EVERYONE_COST = 0.25

# One idea, tied to the brand's position and the insight, set apart from competitors, shown.
_IDEA = {
    "idea": phrases(r"(?:the |our |my )?(?:big |core |central |creative )idea", r"the concept", r"campaign (?:called|"
                    r"named|line)", r"tag ?line", r"slogan", r"the (?:theme|platform|hook|thread)", r"in (?:one|a) "
                    r"(?:sentence|line)"),
    "position": phrases(r"position\w*", r"brand promise", r"(?:the )?brand (?:stands for|values|voice|purpose|"
                        r"personality)", r"tone of voice", r"what (?:the|your) brand"),
    "difference": phrases(r"unlike", r"competitors?", r"competition", r"stand(?:s)? out", r"differentiat\w*",
                          r"sets? (?:you|us|it|the brand) apart", r"(?:the )?only (?:brand|one|company)", r"own the"),
    "from_insight": phrases(r"(?:which|that) is why", r"that's why", r"because (?:they|your customers|people|the "
                            r"audience)", r"(?:the |our )?insight (?:is|was)", r"(?:builds|plays|draws) on"),
    "shown": phrases(r"(?:it|the ad|the spot|the film) (?:would )?(?:looks?|sounds?|opens?) (?:like|with)", r"picture "
                     r"(?:this|a)", r"imagine", r"visuals?", r"(?:a|the) (?:film|video|spot|billboard|poster|"
                     r"headline|hero shot|mock[- ]?up|storyboard)s?", r"the (?:first|opening) (?:shot|frame|scene)"),
}
FULL_IDEA_KINDS = 3
_NO_IDEA = phrases(r"go viral", r"(?:raise|build|drive|increase) (?:brand )?awareness", r"get (?:the )?(?:name|"
                   r"word) out", r"buzz")
NO_IDEA_COST = 0.15

# Channels chosen for the audience with a reason, a budget split, dated phases, what the client must provide.
_PLAN = {
    "channels": phrases(r"tiktok", r"instagram", r"youtube", r"linkedin", r"facebook", r"(?:paid )?search", r"seo",
                        r"sem", r"paid social", r"e-?mail", r"out[- ]of[- ]home", r"ooh", r"tv", r"television",
                        r"radio", r"podcasts?", r"influencers?", r"creators?", r"pr", r"press", r"events?",
                        r"display", r"retail", r"in[- ]store", r"direct mail", r"partnerships?", r"sponsorships?"),
    "reasons": phrases(r"because (?:that's|this is|it's) where", r"where (?:they|your customers|the audience) "
                       r"(?:are|spend|hang out|look)", r"(?:they|your customers|the audience) (?:use|watch|read|"
                       r"listen to|scroll|spend time)", r"(?:best|right) (?:channel|place) (?:for|to reach)"),
    "budget_split": phrases(_NUMBER + r" ?(?:%|percent) (?:of (?:the )?(?:budget|spend)|on|to|for|goes)",
                            r"(?:\$|£|€) ?" + _NUMBER, _NUMBER + r" ?(?:k|thousand|million|grand)",
                            r"split (?:the )?(?:budget|spend)", r"allocat\w*", r"the (?:bulk|rest|remainder) of "
                            r"(?:the )?(?:budget|spend)"),
    "phases": phrases(r"phases?", r"waves?", r"teaser", r"(?:the )?launch (?:week|day|month|date)", r"sustain\w*",
                      r"(?:first|second|third|next) (?:week|month|quarter|phase)", r"q[1-4]", r"in " + _MONTHS,
                      r"(?:week|month) " + _NUMBER, r"by " + _MONTHS, r"(?:a|one|two|three|six|\d+)[- ](?:week|"
                      r"month) (?:flight|campaign|burst|run)"),
    "needs": phrases(r"(?:we'll|we will|i'll|i will|we'd|i'd) need (?:from you|your|you to|access)", r"access to "
                     r"(?:your|the)", r"(?:your|the) (?:assets|brand guidelines|sign[- ]off|approval|product team|"
                     r"sales team)", r"from your side"),
}
FULL_PLAN_KINDS = 4
_EVERYWHERE = phrases(r"everywhere", r"all (?:the )?(?:channels|platforms)", r"every (?:channel|platform)")
EVERYWHERE_COST = 0.2

# The objective and its numbers, attribution, an early read, and what is done if it underperforms.
_MEASUREMENT = {
    "objective": phrases(r"objectives?", r"(?:the |our |main )?goal (?:is|would be)", r"kpis?", r"north star",
                         r"success (?:looks like|means|is)", r"we(?:'ll| will) (?:judge|measure) (?:it|success)"),
    "target": phrases(r"targets?", r"baseline", r"(?:from|up from) " + _NUMBER + r" ?(?:%|percent)? to",
                      r"(?:increase|grow|lift|cut|reduce|raise)\w* (?:\w+ )?by " + _NUMBER, _NUMBER + r" ?(?:%|percent)"
                      r" (?:lift|increase|more|growth|uplift|conversion)", _NUMBER + r" (?:new )?(?:signups|leads|"
                      r"customers|sales|downloads|bookings|trials)", r"cost per (?:acquisition|lead|signup|install)",
                      r"cpa", r"roas", r"payback"),
    "attribution": phrases(r"attribut\w*", r"hold ?outs?", r"control (?:group|region|market)", r"a/?b tests?",
                           r"split tests?", r"test (?:cells?|and control|markets?)", r"utms?", r"tracking (?:links?|"
                           r"codes?|pixels?)", r"promo(?:tion)? codes?", r"incrementality", r"lift (?:tests?|study)",
                           r"matched markets?", r"geo[- ]?tests?"),
    "early_read": phrases(r"(?:first|after (?:the )?(?:first )?)(?:week|two weeks|fortnight|month)", r"early "
                          r"(?:signals?|reads?|indicators?|results)", r"leading indicators?", r"check[- ]?ins?",
                          r"(?:weekly|daily) (?:reports?|reviews?|numbers)", r"dashboards?"),
    "fallback": phrases(r"if (?:it|that|the campaign|this|results?) (?:underperforms?|(?:doesn't|does not|isn't|is "
                        r"not) (?:work|working|hit|land|perform))", r"(?:we'll|we will|we'd|we would) (?:shift|move|"
                        r"pull|cut|reallocate|kill|pause|switch)", r"thresholds?", r"(?:fall|falls) below",
                        r"plan b", r"(?:optimi[sz]|reallocat)\w*", r"kill (?:criteria|switch)"),
}
FULL_MEASUREMENT_KINDS = 4
# Results promised that nothing can measure.
_OVERPROMISES = phrases(r"guarantee\w*", r"(?:will|it'll) (?:definitely|certainly) (?:go viral|work|sell)",
                        r"can't (?:fail|miss|lose)", r"(?:a )?sure thing", r"no way (?:it|this) (?:fails|won't)")
OVERPROMISE_COST = 0.2

# Listening to the marketer and answering each challenge with a reason, conceding what is fair, agreeing a next step.
_HANDLING = {
    "asks": phrases(r"what (?:are|is) your (?:goals?|objectives?|budget|constraints?|priorit\w*|timeline|biggest)",
                    r"(?:how much|what) (?:budget|(?:can|could) you spend)", r"what (?:would|does) success look like",
                    r"what (?:worries|concerns) you", r"(?:can|could|may) i ask", r"what have you (?:tried|done)"),
    "answers": phrases(r"(?:the reason|here's why|that's because|because)", r"(?:for example|for instance)",
                       r"(?:the |our )?(?:data|evidence|case study|results?) (?:shows?|from)", r"(?:we|i) (?:saw|ran|"
                       r"did) (?:this|the same|something similar)"),
    "concedes": phrases(r"(?:that's a |a |good |fair )?fair (?:point|question|challenge|concern)", r"you're right",
                        r"good point", r"that's fair", r"(?:we|i) (?:could|can|would|will) (?:adjust|change|adapt|"
                        r"drop|scale|cut) (?:that|it|the)", r"(?:let me|we'll|we will) (?:rework|revise|rethink)",
                        r"(?:i|we) take (?:that|the) point"),
    "next_step": phrases(r"next steps?", r"(?:send|share) you (?:a|the)", r"follow[- ]?up", r"(?:set up|book|"
                         r"schedule) (?:a|the)", r"workshop", r"(?:by|on|next) (?:monday|tuesday|wednesday|thursday|"
                         r"friday|week)", r"proposal (?:by|on)"),
}
FULL_HANDLING_KINDS = 3
# Talking over, dodging or dismissing the marketer's concern.
_DISMISSES = phrases(r"trust me", r"(?:don't|do not) worry", r"(?:that's|that is) not (?:a|an) (?:problem|issue)",
                     r"with (?:all due )?respect", r"you (?:don't|do not) (?:understand|get it)",
                     r"as i (?:said|already said)", r"let me finish", r"(?:that's|that is) (?:not|irrelevant)")
DISMISSAL_COST = 0.25

MOVES = Moves(Role.USER, {"audience": _AUDIENCE, "idea": _IDEA, "plan": _PLAN, "measurement": _MEASUREMENT,
                          "handling": _HANDLING},
              {"everyone": _EVERYONE, "no_idea": _NO_IDEA, "everywhere": _EVERYWHERE, "overpromises": _OVERPROMISES,
               "dismisses": _DISMISSES})

FACTORS = (
    TrackFactor(AUDIENCE, "who the campaign is for, narrowly enough to act on (what they do, want and fear), the "
                "insight and the evidence it rests on; what the marketer knows asked before assuming",
                "kinds of audience talk: a segment, what it does and wants, evidence, a question about the client's "
                "customers (3 of 4 for full marks); 'everyone' costs 25", "has not said who the campaign is for"),
    TrackFactor(BIG_IDEA, "one clear idea tied to the brand's position and the insight, said in a sentence, set apart "
                "from competitors, shown", "kinds of idea talk: the idea, the brand's position, the difference, the "
                "insight it comes from, how it looks (3 of 5 for full marks); 'go viral' or 'awareness' alone costs "
                "15", "has no clear idea of its own yet"),
    TrackFactor(PLAN, "a channel mix chosen for the audience with a reason for each, a budget split, dated phases, "
                "what the client must provide", "kinds of plan: channels, the reason for them, a budget split, "
                "phases, what is needed from the client (4 of 5 for full marks); 'everywhere' costs 20",
                "has no costed, dated channel plan"),
    TrackFactor(MEASUREMENT, "the objective and the numbers that judge it (baseline, target, date), how results are "
                "attributed, and what is done if it underperforms", "kinds of measurement: an objective, a target, "
                "attribution, an early read, a fallback (4 of 5 for full marks); a guaranteed result costs 20",
                "has not said how results will be measured or what happens if it underperforms"),
    TrackFactor(HANDLING, "listens and asks about goals, constraints and budget; answers each challenge with a reason "
                "or evidence, concedes what is fair, agrees a next step", "kinds of handling: questions about the "
                "client's goals, reasons or evidence, a concession, a next step (3 of 4 for full marks); each "
                "dismissive turn costs 25", "is not answering the marketer's concerns"),
)

RUBRIC = moves_rubric(
    Blueprint.MARKETING, FACTORS,
    # The coach rubric's weights (docs/say_meter.md: fitting them did not pay on the security and HR sets).
    {AUDIENCE: 20, BIG_IDEA: 20, PLAN: 20, MEASUREMENT: 25, HANDLING: 15},
    {ENGLISH: MOVES, marketing_es.LANGUAGE: marketing_es.MOVES},
    {AUDIENCE: Coverage("audience", FULL_AUDIENCE_KINDS, "everyone", EVERYONE_COST),
     BIG_IDEA: Coverage("idea", FULL_IDEA_KINDS, "no_idea", NO_IDEA_COST),
     PLAN: Coverage("plan", FULL_PLAN_KINDS, "everywhere", EVERYWHERE_COST),
     MEASUREMENT: Coverage("measurement", FULL_MEASUREMENT_KINDS, "overpromises", OVERPROMISE_COST),
     HANDLING: Coverage("handling", FULL_HANDLING_KINDS, "dismisses", DISMISSAL_COST)},
    {"vanity_metrics": MEASUREMENT, "agency_loyalty": HANDLING, "unclear_buyer": AUDIENCE,
     "attribution_doubt": MEASUREMENT, "budget_cut": PLAN, "me_too_idea": BIG_IDEA, "brand_risk": BIG_IDEA,
     "launch_slip": PLAN},
)
