"""The agentic engineering track's rubric: the candidate (role ``user``) presents or defends the design of an AI agent
or LLM system, in an interview, a design review or about a system they shipped; the persona reviews it. The factors
follow the coach rubric of tests/data/tracks/agentic_eng/RUBRIC.md: evaluation, tools and guardrails, failure and
recovery, cost and latency, communication.

The kinds of move were written from the rubric and knowledge of how agents are built and reviewed, before any
labelled conversation of the track was read. The English phrases are here, the Spanish ones in ``agentic_eng_es``."""

from __future__ import annotations

from analysis_svc.domain.patterns import whole_words as phrases
from analysis_svc.domain.tracks import agentic_eng_es
from analysis_svc.domain.tracks.rubric import ENGLISH, Balance, Coverage, Moves, TrackFactor, moves_rubric
from calls.job_tracks import Blueprint
from calls.turns import Role

EVALUATION = "evaluation"
TOOLS_AND_GUARDRAILS = "tools_and_guardrails"
FAILURE_AND_RECOVERY = "failure_and_recovery"
COST_AND_LATENCY = "cost_and_latency"
COMMUNICATION = "communication"

_NUMBER = r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|twenty|fifty|a hundred)"

# How the agent is known to work: tasks from real use, a success measure, runs before each change, a checked judge,
# the figures reached, where it still fails.
_EVALUATION = {
    "task_set": phrases(r"eval(?:uation)? (?:set|suite|dataset)s?", r"test (?:set|cases?|suite)", r"golden (?:set|"
                        r"dataset|examples?)", r"labell?ed (?:examples|data|set)", r"(?:real|actual|production|"
                        r"historical) (?:tickets|queries|conversations|transcripts|requests|traffic|tasks|logs)",
                        r"benchmark (?:of|from) our", r"(?:sampled|pulled|collected) (?:from|\w+ from) (?:real|"
                        r"production|our)"),
    "success_measure": phrases(r"success rate", r"pass rate", r"task (?:completion|success)", r"resolution rate",
                               r"(?:precision|recall|accuracy) (?:on|of)", r"(?:graded|scored) (?:on|against|as)",
                               r"(?:counts|counted) as (?:a )?(?:success|correct|resolved)", r"rubric"),
    "regression": phrases(r"regressions?", r"before (?:each|every|any) (?:change|release|deploy|prompt change|model "
                          r"change)", r"(?:in|on) (?:ci|every pull request|every commit)", r"offline evals?",
                          r"re-?run (?:the )?(?:evals?|suite|tests)", r"(?:every|each) (?:prompt|model) change"),
    "judge": phrases(r"human (?:review|reviewers|raters|labell?ers|graders|evaluation)", r"(?:llm|model)[- ]as[- ]a[- ]"
                     r"judge", r"judge model", r"(?:an|the|a) (?:llm|model) judge", r"annotators?",
                     r"spot[- ]?check\w*",
                     r"agree(?:s|ment)? with (?:the )?(?:humans|people|reviewers|experts)", r"calibrat\w*"),
    "figures": phrases(_NUMBER + r" ?(?:%|percent)(?: of (?:the )?(?:tasks|cases|tickets|queries|runs))?",
                       r"(?:from|went from) " + _NUMBER + r" (?:to|up to) " + _NUMBER, r"out of " + _NUMBER),
    "weak_spots": phrases(r"(?:still )?(?:fails|struggles|breaks) (?:on|with|when)", r"failure (?:cases|modes) (?:we|"
                          r"it)", r"where it (?:still )?(?:fails|falls short|struggles)", r"edge cases?",
                          r"(?:it's|it is) (?:weak|worst|bad) (?:at|on)", r"(?:doesn't|does not) (?:yet )?handle"),
}
FULL_EVALUATION_KINDS = 4

# What the agent may do and with what rights, what is checked on the way in and out, and who or what stands in front
# of anything costly or irreversible.
_GUARDRAILS = {
    "tool_scope": phrases(r"(?:only|just) (?:call|use|has|have|gets?) (?:\w+ )?(?:tools?|access)", r"allow ?list\w*",
                          r"read[- ]only", r"least privilege", r"scoped", r"(?:limited|narrow|minimal) "
                          r"(?:set of )?(?:tools|permissions|access|rights)", r"permissions?", r"(?:can't|cannot|"
                          r"can not|never) (?:call|delete|write|send|touch|access)"),
    "credentials": phrases(r"(?:scoped|short[- ]lived|per[- ]user|its own) (?:credentials|tokens?|keys?|service "
                           r"accounts?)", r"service accounts?", r"oauth scopes?", r"on behalf of the user",
                           r"(?:the user's|their own) (?:permissions|rights|access)", r"secrets? (?:manager|vault)"),
    "validation": phrases(r"validat\w*", r"(?:json )?schemas?", r"structured outputs?", r"saniti[sz]\w*",
                          r"(?:input|output) (?:checks?|filter\w*|guards?)", r"type[- ]check\w*", r"pars(?:e|ing) "
                          r"(?:the|its) (?:output|arguments)"),
    "injection": phrases(r"prompt injections?", r"injected (?:instructions|prompts?)", r"untrusted (?:input|content|"
                         r"text|documents?|data)", r"jailbreak\w*", r"indirect injection"),
    "human_gate": phrases(r"human[- ]in[- ]the[- ]loop", r"(?:a )?(?:human|person|someone) (?:approves?|signs? off|"
                          r"reviews? it|confirms?)", r"approv(?:al|e) (?:step|before|first)", r"(?:asks?|needs?) "
                          r"(?:for )?(?:confirmation|approval)", r"confirm(?:s|ation)? before", r"irreversible",
                          r"dry[- ]run", r"(?:above|over) (?:a |the )?(?:threshold|limit)"),
    "hard_rule": phrases(r"hard (?:rules?|limits?|caps?|checks?)", r"(?:spend(?:ing)?|rate) (?:caps?|limits?)",
                         r"deterministic (?:checks?|rules?|code)", r"polic(?:y|ies) (?:engine|check)", r"sandbox\w*",
                         r"(?:outside|not up to) the model", r"in code,? not (?:in )?the prompt"),
}
FULL_GUARDRAIL_KINDS = 4
# Rights with no checks, or safety left to the model.
_UNGUARDED = phrases(r"(?:full|admin|root|unrestricted|broad) (?:access|rights|permissions)", r"the model (?:will )?"
                     r"(?:decides?|knows?|figures? (?:it )?out|handles? (?:it|that|everything))", r"(?:access|"
                     r"connected) to everything", r"trust the model", r"no need (?:for|to) (?:approv\w*|check\w*)")
UNGUARDED_COST = 0.25

# How this agent fails and what happens then, and how it is seen failing once live.
_FAILURE = {
    "modes": phrases(r"(?:wrong|bad) tool", r"loops?", r"looping", r"hallucinat\w*", r"made[- ]up", r"mak(?:es|ing) "
                     r"(?:things|stuff|facts) up", r"time ?outs?", r"tim(?:es|ed) out",
                     r"tool (?:errors?|fails?|failures?)",
                     r"(?:api|tool|call) (?:fails|failed|is down|goes down)", r"rate[- ]limit(?:ed|s)?",
                     r"malformed", r"gets? stuck"),
    "retries": phrases(r"retr(?:y|ies|ied)", r"back ?off", r"(?:max(?:imum)?|bounded|limited) (?:number of )?"
                       r"(?:attempts|retries|tries)"),
    "idempotent": phrases(r"idempoten\w*", r"dedup\w*", r"safe to (?:repeat|retry|run twice)", r"roll ?back",
                          r"undo", r"compensat\w*", r"exactly once", r"at most once"),
    "fallback": phrases(r"fall(?:s)? ?back", r"fallback", r"degrad\w*", r"hand(?:s|ed)? (?:it )?(?:off|over) to "
                        r"(?:a )?(?:human|person|agent|support|someone)", r"escalat\w* to (?:a )?(?:human|person|"
                        r"support|someone)", r"(?:the|a) (?:human|person) takes over", r"tells? the user"),
    "observability": phrases(r"trac(?:e|es|ed|ing)", r"spans?", r"observability", r"dashboards?", r"alert\w*",
                             r"log(?:s|ged|ging)? (?:each|every) (?:step|tool call|call|run)", r"monitor\w*",
                             r"replay\w*", r"langsmith", r"opentelemetry"),
    "review": phrases(r"(?:review|look at|go through|read) (?:the )?(?:failed|failing|bad) (?:runs|conversations|"
                      r"traces|cases)", r"post[- ]?mortems?", r"error analysis", r"(?:add|feed|put) (?:them|it|those|"
                      r"failures) (?:back )?(?:in|into|to) (?:the )?(?:eval|test)"),
}
FULL_FAILURE_KINDS = 4

# What one task costs and takes, and the levers that keep them in bounds.
_COST = {
    "figures": phrases(r"(?:cents?|dollars?|\$ ?" + _NUMBER + r")(?: (?:a|per) (?:task|run|call|request|"
                       r"conversation|ticket))?", _NUMBER + r" (?:k |thousand )?tokens", r"(?:per|a) (?:task|run|"
                       r"request|conversation)", _NUMBER + r" (?:seconds|milliseconds|ms|secs)", r"p(?:50|95|99)"),
    "model_choice": phrases(r"(?:smaller|cheaper|faster|tiny|mini) models?", r"(?:a|the) (?:mini|small) (?:one|"
                            r"model)", r"rout(?:e|es|ing|er) (?:between|to) (?:\w+ )?models?", r"distil\w*",
                            r"fine[- ]?tun\w*", r"model (?:choice|we chose|selection)"),
    "caching": phrases(r"cach(?:e|es|ed|ing)", r"memoi[sz]\w*", r"reus(?:e|es|ing) (?:the )?(?:results?|answers?)"),
    "limits": phrases(r"(?:step|iteration|token|turn) (?:limits?|budgets?|caps?)", r"max(?:imum)? (?:number of )?"
                      r"(?:steps|iterations|turns|tokens)", r"budget (?:limits?|caps?|per)", r"cap(?:s|ped)? (?:it|"
                      r"the|at)", r"time ?outs? (?:of|at|per)"),
    "async": phrases(r"stream(?:s|ed|ing)?", r"async\w*", r"(?:in the )?background", r"queues?", r"batch\w*",
                     r"in parallel", r"parallel\w*"),
}
FULL_COST_KINDS = 3

# Concrete, owned answers: from real work, trade-offs and unknowns said, a wrong assumption corrected, scope asked.
_CONCRETE = phrases(
    r"trade[- ]?offs?", r"the (?:downside|catch|cost of that|price)", r"on the other hand", r"(?:we|i) gave up",
    r"(?:we|i) (?:don't|do not) (?:yet )?know", r"(?:haven't|have not) (?:yet )?measured", r"not sure yet",
    r"(?:actually|well),? (?:it's|that's|we) (?:not|don't)", r"(?:i'd|i would) push back", r"not quite",
    r"(?:in our case|when we (?:built|shipped|launched)|in production,? we|we (?:shipped|learned|found|measured|saw))",
    r"(?:do|did) you mean", r"(?:can i|let me) (?:ask|check|clarify)", r"(?:just )?to clarify",
    r"(?:what|which) (?:is|are) the (?:scope|constraints|users)",
)
# Hype, bluffing and evasion.
_HYPE = phrases(
    r"fully autonomous", r"never (?:hallucinates|fails|makes mistakes)", r"(?:100|a hundred) ?(?:%|percent) "
    r"(?:accurate|reliable|safe)", r"just works", r"smart enough", r"(?:will|would) get (?:cheaper|better) anyway",
    r"game[- ]?chang\w*", r"magic(?:al)?", r"agi", r"(?:can't|cannot|won't) (?:go wrong|fail)", r"no comment",
    r"(?:i'd|i would) rather not (?:say|get into)", r"trust me",
)
FULL_CONCRETE = 3
HYPE_COST = 0.25

MOVES = Moves(Role.USER, {"evaluation": _EVALUATION, "guardrails": _GUARDRAILS, "failure": _FAILURE, "cost": _COST},
              {"unguarded": _UNGUARDED, "concrete": _CONCRETE, "hype": _HYPE})

FACTORS = (
    TrackFactor(EVALUATION, "how the agent is known to work: tasks drawn from real use with a success measure, "
                "regression runs before each change, a human or judge model checked against people, the figures "
                "reached and where it still fails", "kinds of evaluation: a task set from real use, a success measure, "
                "regression runs, a checked judge, figures, where it fails (4 of 6 for full marks)",
                "has not said how the agent is known to work"),
    TrackFactor(TOOLS_AND_GUARDRAILS, "which tools the agent may call and with what rights, what is validated in and "
                "out, prompt injection guarded against, a person or a hard rule in front of anything costly or "
                "irreversible", "kinds of guardrail: scoped tools, scoped credentials, validation, injection, a "
                "person's approval, a hard rule (4 of 6 for full marks); broad rights or safety left to the model "
                "cost 25 each", "has not said what the agent may do and what stops it"),
    TrackFactor(FAILURE_AND_RECOVERY, "how this agent fails and what happens then (bounded retries, idempotent "
                "actions, fallbacks, a person), and how failures are seen in production",
                "kinds of failure handling: failure modes named, retries, idempotence, a fallback, observability, "
                "review of failed runs (4 of 6 for full marks)", "has not said how the agent fails and recovers"),
    TrackFactor(COST_AND_LATENCY, "the cost and time of one task, estimated, and how they are kept in bounds (a "
                "smaller model, caching, step and budget limits, streaming or async)", "kinds of cost talk: figures, "
                "the model's choice, caching, limits, async or streaming (3 of 5 for full marks)",
                "has not said what a task costs or how long it takes"),
    TrackFactor(COMMUNICATION, "answers the question asked, concretely and from real work; trade-offs and unknowns "
                "said, a wrong assumption corrected, scope asked when unclear; no hype", "from 50: turns from real "
                "work, with a trade-off, an unknown, a correction or a clarifying question raise it (three for full "
                "marks), each hyping or evasive turn costs 25",
                "answers are vague or overclaim, with no trade-offs owned"),
)

RUBRIC = moves_rubric(
    Blueprint.AGENTIC_ENG, FACTORS,
    # The coach rubric's weights (docs/say_meter.md: fitting them did not pay on the security and HR sets).
    {EVALUATION: 25, TOOLS_AND_GUARDRAILS: 20, FAILURE_AND_RECOVERY: 20, COST_AND_LATENCY: 15, COMMUNICATION: 20},
    {ENGLISH: MOVES, agentic_eng_es.LANGUAGE: agentic_eng_es.MOVES},
    {EVALUATION: Coverage("evaluation", FULL_EVALUATION_KINDS),
     TOOLS_AND_GUARDRAILS: Coverage("guardrails", FULL_GUARDRAIL_KINDS, "unguarded", UNGUARDED_COST),
     FAILURE_AND_RECOVERY: Coverage("failure", FULL_FAILURE_KINDS),
     COST_AND_LATENCY: Coverage("cost", FULL_COST_KINDS),
     COMMUNICATION: Balance("concrete", FULL_CONCRETE, "hype", HYPE_COST)},
    {"vague_goal": COMMUNICATION, "no_eval_data": EVALUATION, "hallucination_incident": FAILURE_AND_RECOVERY,
     "cost_spike": COST_AND_LATENCY, "model_deprecation": FAILURE_AND_RECOVERY,
     "compliance_review": TOOLS_AND_GUARDRAILS},
)
