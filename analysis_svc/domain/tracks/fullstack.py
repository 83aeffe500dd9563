"""The full-stack engineering track's rubric: the candidate (role ``user``) is interviewed for a full-stack role (a
system design round, a technical round on APIs, data, front-end performance, testing or debugging, or a round on their
past work); the persona interviews. The factors follow the coach rubric of tests/data/tracks/fullstack/RUBRIC.md:
system design, API and data modelling, testing and debugging, trade-offs and adaptation, communication.

The kinds of move were written from the rubric and knowledge of how full-stack interviews are run and scored, before
any labelled conversation of the track was read. The English phrases are here, the Spanish ones in ``fullstack_es``."""

from __future__ import annotations

from analysis_svc.domain.patterns import whole_words as phrases
from analysis_svc.domain.tracks import fullstack_es
from analysis_svc.domain.tracks.rubric import ENGLISH, Balance, Coverage, Moves, TrackFactor, moves_rubric
from calls.job_tracks import Blueprint
from calls.turns import Role

SYSTEM_DESIGN = "system_design"
API_AND_DATA = "api_and_data"
TESTING_AND_DEBUGGING = "testing_and_debugging"
TRADEOFFS_AND_ADAPTATION = "tradeoffs_and_adaptation"
COMMUNICATION = "communication"

_NUMBER = r"(?:\d[\d,.]*|one|two|three|four|five|ten|twenty|fifty|a hundred|a thousand|a million)"

# Requirements and scale first, the parts from the browser to the database and how data flows, the bottleneck
# sized, and the front end's share.
_DESIGN = {
    "requirements": phrases(r"requirements?", r"how many (?:users|requests|writes|reads)", r"what (?:scale|load)",
                            r"read[- ]heavy", r"write[- ]heavy", r"(?:non[- ])?functional", r"(?:let's|let me|i'll) "
                            r"assume", r"assumptions?", r"before i (?:design|start|draw)", r"use cases?"),
    "parts": phrases(r"load balancers?", r"api (?:servers?|gateway|layer)", r"(?:web|app|application) servers?",
                     r"databases?", r"caches?", r"redis", r"queues?", r"cdn", r"workers?", r"(?:blob|object) "
                     r"(?:store|storage)", r"s3", r"postgres\w*", r"replicas?", r"shard\w*"),
    "flow": phrases(r"(?:the )?(?:request|data|event) (?:goes|flows|comes|hits|lands)", r"(?:the )?(?:browser|client|"
                    r"front ?end) (?:sends|calls|posts|fetches|requests)", r"(?:writes?|reads?) (?:it )?(?:to|from) "
                    r"(?:the )?(?:database|cache|queue)", r"(?:then|and then) (?:the|it) (?:\w+ )?(?:calls|writes|"
                    r"reads|sends|returns)", r"end to end", r"from the browser"),
    "sizing": phrases(r"(?:requests|queries|writes|reads) (?:per|a) (?:second|minute|day)", r"qps", r"rps",
                      _NUMBER + r" ?(?:k|thousand|million|billion)? (?:users|requests|rows|writes|reads|messages)",
                      r"(?:giga|tera|mega)bytes?", r"\d+ ?(?:gb|tb|mb)", r"back of the envelope", r"bottlenecks?",
                      r"peak (?:load|traffic)"),
    "front_end": phrases(r"render(?:s|ed|ing)?", r"server[- ]side", r"client[- ]side", r"ssr", r"spa", r"hydrat\w*",
                         r"bundles?", r"lazy[- ]?load\w*", r"what the user (?:sees|waits)", r"loading (?:state|"
                         r"spinner)", r"optimistic (?:update|ui)", r"skeleton", r"first (?:paint|load)",
                         r"browser cach\w*"),
}
FULL_DESIGN_KINDS = 4

# A clear API and a data model that fits the reads and writes, with keys, indexes and consistency.
_DATA = {
    "api": phrases(r"endpoints?", r"rest(?:ful)?", r"graphql", r"(?:get|post|put|patch|delete) (?:/|slash|on|to|"
                   r"request)", r"status codes?", r"4\d\d", r"error (?:codes?|responses?)", r"request bod(?:y|ies)",
                   r"(?:json )?payloads?", r"resources?"),
    "paging": phrases(r"paginat\w*", r"cursors?", r"page (?:tokens?|size)", r"limit and offset", r"offset",
                      r"version(?:ed|ing)", r"v1", r"backwards? compatib\w*"),
    "model": phrases(r"tables?", r"schemas?", r"columns?", r"entit(?:y|ies)", r"foreign keys?", r"primary keys?",
                     r"one[- ]to[- ]many", r"many[- ]to[- ]many", r"normali[sz]\w*", r"denormali[sz]\w*",
                     r"data model\w*", r"document (?:store|database)"),
    "indexes": phrases(r"index(?:es|ed)?", r"indices", r"query patterns?", r"read (?:path|pattern)s?",
                       r"write (?:path|pattern)s?", r"access patterns?"),
    "consistency": phrases(r"transactions?", r"transactional", r"idempoten\w*", r"race conditions?", r"concurren\w*",
                           r"optimistic lock\w*", r"(?:row|pessimistic) lock\w*", r"etags?", r"unique constraints?",
                           r"exactly once", r"dedup\w*", r"retries", r"double (?:charge|write|submit)\w*"),
}
FULL_DATA_KINDS = 4

# What each level of test catches, and a method for a production problem from their own work.
_TESTING = {
    "levels": phrases(r"unit tests?", r"integration tests?", r"end[- ]to[- ]end", r"e2e", r"contract tests?",
                      r"load tests?", r"snapshot tests?", r"test pyramid", r"(?:catch|catches|caught) (?:the )?"
                      r"(?:regressions?|bugs?)"),
    "observe": phrases(r"reproduc\w*", r"repro", r"logs?", r"metrics", r"traces?", r"tracing", r"dashboards?",
                       r"profil\w*", r"stack traces?", r"debugger", r"flame ?graphs?"),
    "narrow": phrases(r"bisect\w*", r"narrow(?:ed|ing)? (?:it )?down", r"isolat\w*", r"root cause", r"hypothes\w*",
                      r"ruled? out", r"binary search", r"the (?:real )?cause (?:was|is)"),
    "verify": phrases(r"verif\w*", r"confirm(?:ed)? (?:the fix|it (?:was )?fixed)", r"(?:deployed|shipped) the fix",
                      r"roll(?:ed)? ?back", r"hot ?fix", r"the fix was"),
    "prevent": phrases(r"regression tests?", r"added (?:a |an )?(?:test|alert|check)", r"alerts?", r"monitor\w*",
                       r"post[- ]?mortems?", r"so (?:it|that) (?:doesn't|does not|won't|can't|never) happen",
                       r"prevent\w*"),
    "own_part": phrases(r"i (?:found|traced|wrote|fixed|added|noticed|debugged|dug|reproduced|caught|rewrote|"
                        r"profiled)"),
}
FULL_TESTING_KINDS = 4
# A guess in place of a method, or the problem put on others.
_GUESSES = phrases(r"add (?:some )?logging and see", r"just restart\w*", r"(?:their|the other team's|qa's|ops') "
                   r"(?:fault|problem)", r"not my (?:fault|problem|code)", r"blam\w*", r"(?:probably|must have been) "
                   r"(?:the|a) (?:network|cache|glitch)", r"works on my machine")
GUESS_COST = 0.2

# Options and what each costs, a choice for this case, and the design adapted when a requirement changes.
_TRADEOFFS = {
    "options": phrases(r"options?", r"alternatives?", r"alternatively", r"instead of", r"versus", r"vs", r"(?:we|i) "
                       r"could (?:also|either)", r"another (?:way|approach)"),
    "costs": phrases(r"trade[- ]?offs?", r"downsides?", r"the cost (?:of|is)", r"at the (?:expense|cost) of",
                     r"pros and cons", r"(?:simpler|faster|cheaper|easier) but", r"consistency", r"availability",
                     r"eventual(?:ly)? consisten\w*", r"build (?:or|versus|vs) buy", r"latency"),
    "choice": phrases(r"(?:i'd|i would|we'd|we would) (?:choose|pick|go with|start with|use)", r"for this (?:case|"
                      r"product|scale)", r"given (?:that|the)", r"so (?:i'd|i would) (?:choose|pick|use|go)",
                      r"here (?:i'd|i would)", r"(?:that's|this is) why i"),
    "adapt": phrases(r"if (?:the|that) (?:requirement|load|traffic|scale) (?:changes|grows|doubles)", r"with that "
                     r"change", r"that changes", r"still holds", r"still works", r"(?:i'd|we'd|i would|we would) "
                     r"(?:change|swap|add|move|split)", r"in that case", r"(?:now|then) (?:i'd|we'd|we need)"),
}
FULL_TRADEOFF_KINDS = 3
# One choice defended as always right.
_ABSOLUTES = phrases(r"always use", r"never use", r"the best (?:way|choice|database|framework|language)",
                     r"(?:is|are) always (?:better|right|the answer)", r"(?:there's|there is) no (?:downside|"
                     r"trade[- ]?off)", r"only (?:one|a fool)")
ABSOLUTE_COST = 0.2

# Thinking aloud in order, clarifying first, examples from real work with their own part, unknowns said.
_CLEAR = phrases(
    r"(?:do|did) you mean", r"(?:just )?to clarify", r"(?:can|may) i ask", r"let me think", r"(?:first|to start),? "
    r"(?:i'll|let me|i'd|i would)", r"(?:in|at) my (?:last|previous|current) (?:job|role|project|company|team)",
    r"when i (?:worked|was) (?:at|on)", r"i (?:built|led|owned|shipped|designed|migrated)", r"my (?:part|role) was",
    r"i (?:don't|do not) know", r"(?:i'm|i am) not sure", r"i (?:haven't|have not) (?:used|worked)",
)
_EVADES = phrases(r"(?:i'd|i would) rather not", r"(?:doesn't|does not) (?:really )?matter", r"whatever works",
                  r"everyone (?:knows|does)", r"as i (?:said|already said)", r"obviously", r"it depends\W*$")
FULL_CLEAR = 3
EVASION_COST = 0.25

MOVES = Moves(Role.USER, {"design": _DESIGN, "data": _DATA, "testing": _TESTING, "tradeoffs": _TRADEOFFS},
              {"guesses": _GUESSES, "absolutes": _ABSOLUTES, "clear": _CLEAR, "evades": _EVADES})

FACTORS = (
    TrackFactor(SYSTEM_DESIGN, "requirements and scale pinned down first, the parts from the browser to the database "
                "and how data flows, the bottleneck sized, the front end's share", "kinds of design talk: "
                "requirements, parts, the flow, sizing, the front end (4 of 5 for full marks)",
                "has not laid out the design from requirements to database"),
    TrackFactor(API_AND_DATA, "a clear API (resources, errors, pagination, versioning) and a data model that fits the "
                "reads and writes, with keys, indexes and consistency", "kinds of API and data talk: the API, "
                "paging and versions, the model, indexes, consistency (4 of 5 for full marks)",
                "has not said what the API and the data model are"),
    TrackFactor(TESTING_AND_DEBUGGING, "what each level of test catches; for a production problem, observe, narrow to "
                "the root cause, fix, verify, prevent, from their own work", "kinds of testing and debugging: test "
                "levels, observing, narrowing down, verifying, preventing, their own part (4 of 6 for full marks); "
                "a guess or blame costs 20", "has no method for testing or finding a bug"),
    TrackFactor(TRADEOFFS_AND_ADAPTATION, "the options and what each costs, a choice for this case, the design "
                "adapted when a requirement changes", "kinds of trade-off talk: options, their costs, a choice, "
                "adapting (3 of 4 for full marks); one choice defended as always right costs 20",
                "has not weighed the options for this case"),
    TrackFactor(COMMUNICATION, "thinks aloud in order, clarifies before designing, examples from real work with their "
                "own part, says what they do not know", "from 50: clarifying questions, ordered thinking, their own "
                "part in real work and unknowns said raise it (three turns for full marks), each evasion costs 25",
                "answers are evasive or hard to follow"),
)

RUBRIC = moves_rubric(
    Blueprint.FULLSTACK, FACTORS,
    # The coach rubric's weights (docs/say_meter.md: fitting them did not pay on the security and HR sets).
    {SYSTEM_DESIGN: 25, API_AND_DATA: 20, TESTING_AND_DEBUGGING: 20, TRADEOFFS_AND_ADAPTATION: 20, COMMUNICATION: 15},
    {ENGLISH: MOVES, fullstack_es.LANGUAGE: fullstack_es.MOVES},
    {SYSTEM_DESIGN: Coverage("design", FULL_DESIGN_KINDS),
     API_AND_DATA: Coverage("data", FULL_DATA_KINDS),
     TESTING_AND_DEBUGGING: Coverage("testing", FULL_TESTING_KINDS, "guesses", GUESS_COST),
     TRADEOFFS_AND_ADAPTATION: Coverage("tradeoffs", FULL_TRADEOFF_KINDS, "absolutes", ABSOLUTE_COST),
     COMMUNICATION: Balance("clear", FULL_CLEAR, "evades", EVASION_COST)},
    {"vague_requirement": COMMUNICATION, "legacy_stack": TRADEOFFS_AND_ADAPTATION, "unclear_owner": API_AND_DATA,
     "traffic_spike": SYSTEM_DESIGN, "flaky_tests": TESTING_AND_DEBUGGING, "deadline_moved": TRADEOFFS_AND_ADAPTATION,
     "accessibility_audit": SYSTEM_DESIGN},
)
