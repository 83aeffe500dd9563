"""`make loop`: the learning loop closed, end to end, against the running services.

Three personas with a known flaw are seeded (an Owl that talks far too long, a Lamb that leaks
enthusiasm, a difficulty-5 Bear whose traits tell it to give its budget away in its first answer). Each
plays a few calls through the real gateway protocol, the persona's side played by the local simulator
from its own fields and the instructions it understands in its rendered prompt. The analysis service audits every call
and hands the audit to the learning service; an evolution run per archetype finds the flaw, proposes
patches (for the Bear, a structured patch that replaces the offending trait, for every difficulty-5
Bear) and validates them on simulated calls of every persona they reach; the patches are approved as
an operator would; then the personas play new calls, which RenderPrompt now patches, and their audits
improve. The other personas a patch reaches play the same seeded calls before its approval and after
it, so the report shows whether any of them got worse.

The local simulator obeys its prompt, so on it the loop closes by construction: this run checks the
plumbing, the scoping and the side-effect check, not whether a model follows a patch.

With `--engine scripted` (`make loop ENGINE=scripted`, against `make run ENGINE=scripted`, whose learning service
then plays and writes with the scripted model of devtools/scripted_model.py on loopback), the two flaws that model
scripts are seeded: the Bear, and a difficulty-4 Fox whose traits tell it to answer every question in a word or two.
Their calls, before and after, are played by that model from the prompt RenderPrompt gives (24 of each by default),
each evolution run asks for the openai engine and validates on 24 paired calls, and the other personas each patch
reaches play the same calls before and after it. The model follows each instruction of its prompt four times in five:
the run measures the loop's plumbing and its statistics under a model that disobeys, not whether a real model follows
the patch.

Run it with `make run` up. Waiting on the services is injected, so the tests wait on events.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import grpc
from sparring.audit.v1 import audit_pb2
from sparring.learning.v1 import learning_service_pb2 as lpb
from sparring.learning.v1 import learning_service_pb2_grpc
from sparring.persona.v1 import persona_service_pb2 as ppb
from sparring.persona.v1 import persona_service_pb2_grpc
from sparring.transcript.v1 import transcript_service_pb2 as tpb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from calls.turns import Role, Turn
from devtools.credentials import development_channel
from devtools.endpoints import endpoint
from devtools.gateway import stream_call
from devtools.scripted_model import BUDGET_TRAIT, TERSE_TRAIT, VALIDATION_CALLS
from learning_svc.adapters.personas import simulated
from learning_svc.domain.simulation import AuditScoreMeans, SimulatedPersona, prompt_rules, score_means, simulate_call
from svckit import eventloop

# Who the check calls as when run against `make run`; its approvals are recognised by it.
ACTOR = "closed-loop"
_ROLES = {Role.USER: tpb.ROLE_USER, Role.ASSISTANT: tpb.ROLE_ASSISTANT}


@dataclass(frozen=True)
class FlawedPersona:
    persona_id: str
    based_on: str  # a catalogue persona, copied and given the flaw
    display_name: str
    flaw: str
    changes: Callable[[ppb.Persona], None]
    # The other personas its patches reach play the same calls before and after the approval. Their audits join the
    # archetype's corpus, so only the flaw whose finding is a share of calls, not a mean of them, checks them.
    checks_neighbours: bool = False


def _rambling(persona: ppb.Persona) -> None:
    persona.communication_style = "Long-winded: explains everything in detail and rambles through every answer."
    persona.config.language_style = ppb.LANGUAGE_STYLE_VERBOSE


def _gushing(persona: ppb.Persona) -> None:
    del persona.personality_traits[:]
    persona.personality_traits.extend(["enthusiastic", "eager", "easily excited"])
    persona.config.emotional_style = ppb.EMOTIONAL_STYLE_EXPRESSIVE


def _budget_first(persona: ppb.Persona) -> None:
    persona.difficulty = 5
    persona.personality_traits.append(BUDGET_TRAIT)


def _terse(persona: ppb.Persona) -> None:
    persona.difficulty = 4
    persona.personality_traits.append(TERSE_TRAIT)


BUDGET_BEAR = FlawedPersona("loop-budget-bear", "margaret-oconnell", "Rex Dunmore", "gives its budget away first",
                            _budget_first, checks_neighbours=True)
# The flaws the local stand-in plays, and those the scripted model (devtools/scripted_model.py) plays and corrects:
# the stand-in has no reading of a terse trait.
FLAWED = (
    FlawedPersona("loop-rambling-owl", "kenji-watanabe", "Theo Marsh", "talks far too long", _rambling),
    FlawedPersona("loop-gushing-lamb", "mei-lin", "Bonnie Hale", "leaks enthusiasm", _gushing),
    BUDGET_BEAR,
)
SCRIPTED_FLAWED = (
    BUDGET_BEAR,
    FlawedPersona("loop-terse-fox", "diego-alvarez", "Dana Voss", "answers in a word or two", _terse,
                  checks_neighbours=True),
)


@dataclass
class Audited:
    """The audits of some calls of one persona: mean scores, words per persona turn, flagged quotes by reason."""

    scores: AuditScoreMeans
    words_per_turn: float
    flags: Counter[str]


@dataclass
class Neighbour:
    """Another persona an approved patch reaches: the same seeded calls before its approval and after."""

    persona: str
    difficulty: int
    before: Audited
    after: Audited | None = None


@dataclass
class PersonaOutcome:
    persona: str
    display_name: str
    archetype: str
    flaw: str
    checks_neighbours: bool = False
    before: AuditScoreMeans | None = None
    before_words: float = 0.0
    before_flags: Counter[str] = field(default_factory=Counter)
    after: AuditScoreMeans | None = None
    after_words: float = 0.0
    after_flags: Counter[str] = field(default_factory=Counter)
    run: lpb.EvolutionRun | None = None
    patches: list[lpb.PromptPatch] = field(default_factory=list)
    neighbours: list[Neighbour] = field(default_factory=list)


# Waits until something may have changed: the CLI sleeps a little, the tests wait for a NOTIFY.
Changed = Callable[[], Awaitable[None]]
RunFinished = Callable[[str], Awaitable[None]]
# Plays one call of a persona from its rendering, with a seed.
Player = Callable[[SimulatedPersona, ppb.RenderPromptResponse, int], Awaitable[Sequence[Turn]]]


async def stand_in(persona: SimulatedPersona, rendered: ppb.RenderPromptResponse, seed: int) -> Sequence[Turn]:
    """The local simulator: the persona's fields and the instructions it understands in its rendered prompt, as the
    learning service's stand-in plays it."""
    return simulate_call(persona, prompt_rules(rendered.system_prompt), seed)


# The scripted run's calls played before and after, by default: as many as its evolution run validates on.
SCRIPTED_CALLS = VALIDATION_CALLS


class ClosedLoop:
    def __init__(self, personas, transcripts, learnings, audits_changed: Changed, run_finished: RunFinished,
                 calls: int = 4, say: Callable[[str], None] = print, actor: str = ACTOR, neighbours: int = 3,
                 flawed: Sequence[FlawedPersona] = FLAWED, player: Player = stand_in,
                 options: lpb.EvolutionOptions | None = None) -> None:
        """``actor``: the subject of the token the stubs call with; ``neighbours``: at most this many other personas
        the approved patches of a run reach play calls before and after the approval (see checks_neighbours);
        ``player`` plays the persona's side of every call; ``options``: of the evolution runs, beyond min_audits."""
        self._flawed = flawed
        self._player = player
        self._options = options or lpb.EvolutionOptions()
        self._personas = personas
        self._transcripts = transcripts
        self._learnings = learnings
        self._audits_changed = audits_changed
        self._run_finished = run_finished
        self._calls = calls
        self._say = say
        self._actor = actor
        self._neighbours = neighbours

    async def run(self) -> list[PersonaOutcome]:
        outcomes = [await self._seed(flawed) for flawed in self._flawed]
        for outcome in outcomes:
            await self._start_over(outcome.archetype)
        for outcome in outcomes:
            sessions = await self._play(outcome.persona, first_seed=1)
            before = await self._audited(outcome.persona, sessions)
            outcome.before, outcome.before_words, outcome.before_flags = before.scores, before.words_per_turn, \
                before.flags
            self._say(f"{outcome.display_name} ({outcome.flaw}): {self._calls} calls, audit overall "
                      f"{outcome.before.overall:.2f}, {outcome.before_words:.1f} words/turn")
        for outcome in outcomes:
            await self._evolve(outcome)
        for outcome in outcomes:
            sessions = await self._play(outcome.persona, first_seed=101)
            after = await self._audited(outcome.persona, sessions)
            outcome.after, outcome.after_words, outcome.after_flags = after.scores, after.words_per_turn, after.flags
            for neighbour in outcome.neighbours:
                neighbour.after = await self._audited(neighbour.persona, await self._play(neighbour.persona, 1))
        self._report(outcomes)
        return outcomes

    async def _seed(self, flawed: FlawedPersona) -> PersonaOutcome:
        name = f"personas/{flawed.persona_id}"
        try:
            persona = (await self._personas.GetPersona(ppb.GetPersonaRequest(name=name))).persona
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
            base = (await self._personas.GetPersona(ppb.GetPersonaRequest(
                name=f"personas/{flawed.based_on}"))).persona
            persona = ppb.Persona()
            persona.CopyFrom(base)  # its output-only fields are ignored by CreatePersona
            persona.display_name, persona.slug = flawed.display_name, flawed.persona_id
            flawed.changes(persona)
            persona = (await self._personas.CreatePersona(ppb.CreatePersonaRequest(
                persona=persona, persona_id=flawed.persona_id))).persona
        return PersonaOutcome(persona.name, persona.display_name, persona.archetype, flawed.flaw,
                              flawed.checks_neighbours)

    async def _start_over(self, archetype: str) -> None:
        """Patches an earlier run of this check approved are turned off, so the flaws show again."""
        active = await self._learnings.ListPromptPatches(lpb.ListPromptPatchesRequest(
            archetype=archetype, state=lpb.PATCH_STATE_ACTIVE, page_size=200))
        for patch in active.patches:
            revisions = await self._learnings.ListPromptPatchRevisions(lpb.ListPromptPatchRevisionsRequest(
                parent=patch.name, page_size=200))
            if any(r.action == lpb.PATCH_ACTION_APPROVE and r.actor == self._actor for r in revisions.revisions):
                await self._learnings.DeactivatePromptPatch(lpb.DeactivatePromptPatchRequest(
                    name=patch.name, reason="the closed-loop check starts over"))
                self._say(f"turned off {patch.name} from an earlier run of this check: \"{patch.text}\"")

    async def _play(self, name: str, first_seed: int) -> set[str]:
        """Calls through the gateway protocol; the persona played from its rendering."""
        persona = (await self._personas.GetPersona(ppb.GetPersonaRequest(name=name))).persona
        rendered = await self._personas.RenderPrompt(ppb.RenderPromptRequest(persona=name))
        if rendered.patch_source != ppb.PATCH_SOURCE_LIVE:
            self._say(f"warning: {name} rendered without patches "
                      f"({ppb.PatchSource.Name(rendered.patch_source)}); is the persona service wired to learning?")
        player = simulated(persona)
        sessions = set()
        for seed in range(first_seed, first_seed + self._calls):
            session = (await self._transcripts.CreateSession(tpb.CreateSessionRequest(
                session=tpb.Session(persona=name, blueprint=persona.blueprint),
                session_id=f"loop-{uuid.uuid4().hex[:12]}"))).session
            turns = await self._player(player, rendered, seed)
            await stream_call(self._transcripts, session.name, ((_ROLES[t.role], t.text) for t in turns))
            await self._transcripts.EndSession(tpb.EndSessionRequest(name=session.name, reason="call over"))
            sessions.add(session.name)
        return sessions

    async def _audited(self, persona: str, sessions: set[str]) -> Audited:
        """The audits of these calls, once the learning service has them all."""
        while True:
            reply = await self._learnings.ListCorpusAudits(lpb.ListCorpusAuditsRequest(
                persona=persona, page_size=200))
            audits = [audit for audit in reply.audits if audit.session in sessions]
            if len(audits) == len(sessions):
                break
            await self._audits_changed()
        means = score_means((a.scores.brevity, a.scores.authenticity, a.scores.consistency, a.scores.enthusiasm_leak,
                             a.scores.pacing) for a in audits)
        turns = sum(a.persona_turn_count for a in audits)
        words = sum(a.avg_words_per_turn * a.persona_turn_count for a in audits) / turns if turns else 0.0
        flags = Counter(audit_pb2.FlagReason.Name(q.reason) for a in audits for q in a.flagged_quotes)
        return Audited(means, round(words, 1), flags)

    async def _evolve(self, outcome: PersonaOutcome) -> None:
        # Only this run's calls: the archetype's earlier audits (an earlier run's, after its patch) would outweigh them.
        options = lpb.EvolutionOptions(min_audits=3, audit_limit=self._calls)
        options.MergeFrom(self._options)
        run = (await self._learnings.CreateEvolutionRun(lpb.CreateEvolutionRunRequest(run=lpb.EvolutionRun(
            archetype=outcome.archetype, options=options)))).run
        await self._run_finished(run.name)
        outcome.run = (await self._learnings.GetEvolutionRun(lpb.GetEvolutionRunRequest(name=run.name))).run
        reached = {effect.persona: effect.difficulty for result in outcome.run.validate.results if result.passed
                   for effect in result.side_effects if effect.persona != outcome.persona}
        checked = list(reached.items())[:self._neighbours] if outcome.checks_neighbours else []
        for persona, difficulty in checked:  # their calls before the approval
            before = await self._audited(persona, await self._play(persona, 1))
            outcome.neighbours.append(Neighbour(persona, difficulty, before))
        proposed = await self._learnings.ListPromptPatches(lpb.ListPromptPatchesRequest(
            evolution_run=run.name, state=lpb.PATCH_STATE_PROPOSED))
        for patch in proposed.patches:  # reviewed and approved, as an operator would
            approved = await self._learnings.ApprovePromptPatch(lpb.ApprovePromptPatchRequest(
                name=patch.name, etag=patch.etag, comment="validated by the closed-loop check"))
            outcome.patches.append(approved.patch)

    def _report(self, outcomes: list[PersonaOutcome]) -> None:
        say = self._say
        for o in outcomes:
            assert o.run is not None and o.before is not None and o.after is not None
            say(f"\n== {o.display_name} ({o.archetype}, {o.flaw}) ==")
            say(f"Evolution run {o.run.name}: {lpb.RunState.Name(o.run.state)}")
            for finding in o.run.identify_patterns.findings:
                say(f"  finding: {finding.summary}")
            results = {r.refinement_id: r for r in o.run.validate.results}
            for refinement in o.run.generate_refinements.refinements:
                result = results.get(refinement.refinement_id)
                if result is not None:
                    verdict = "passed" if result.passed else "failed"
                    edits = (f" ({lpb.PartEdit.Name(refinement.edit)} of \"{refinement.find_text}\" in "
                             f"{lpb.PromptPart.Name(refinement.part)})" if refinement.find_text else "")
                    engine = lpb.Engine.Name(result.engine).removeprefix("ENGINE_").lower()
                    fell_back = f", the local engine standing in: {result.fallback_reason}" \
                        if result.fallback_reason else ""
                    say(f"  refinement {refinement.refinement_id} {verdict}: \"{refinement.text}\"{edits}\n"
                        f"    {result.baseline.calls} simulated calls a side ({engine}{fell_back}), overall "
                        f"{result.baseline.scores.overall:.2f} -> {result.patched.scores.overall:.2f}, pacing "
                        f"{result.baseline.scores.pacing:.2f} -> {result.patched.scores.pacing:.2f}, sign test p "
                        f"{result.p_value:.2g}; {result.explanation}")
                    for played in result.personas:
                        withheld = f", withheld {', '.join(played.withheld_patches)}" \
                            if played.withheld_patches else ""
                        say(f"    played {played.persona} ({played.calls} calls a side) from RenderPrompt's output, "
                            f"patches {list(played.baseline_patches)} -> {list(played.patched_patches)}{withheld}: "
                            f"overall {played.baseline_score:.2f} -> {played.patched_score:.2f}")
                    if result.side_effects:
                        say("    personas it reaches, each played alone by the local stand-in: " + ", ".join(
                            f"{effect.persona} (difficulty {effect.difficulty}"
                            f"{', prompt unchanged' if effect.patched_patches == effect.baseline_patches else ''}"
                            f"{': worse on ' + ', '.join(effect.regressed) if effect.regressed else ''})"
                            for effect in result.side_effects))
            for patch in o.patches:
                say(f"  approved {patch.name}: \"{patch.text}\"")
            say(f"  audits of real calls, before: overall {o.before.overall:.2f}, brevity {o.before.brevity:.2f}, "
                f"enthusiasm leak {o.before.enthusiasm_leak:.2f}, {o.before_words:.1f} words/turn")
            say(f"  audits of real calls, after:  overall {o.after.overall:.2f}, brevity {o.after.brevity:.2f}, "
                f"enthusiasm leak {o.after.enthusiasm_leak:.2f}, {o.after_words:.1f} words/turn")
            flagged = sorted(set(o.before_flags) | set(o.after_flags))
            say("  flagged quotes, before -> after: " + ", ".join(
                f"{reason.removeprefix('FLAG_REASON_').lower()} {o.before_flags[reason]} -> {o.after_flags[reason]}"
                for reason in flagged))
            for n in o.neighbours:
                assert n.after is not None
                say(f"  {n.persona} (difficulty {n.difficulty}, reached), the same calls before and after: overall "
                    f"{n.before.scores.overall:.2f} -> {n.after.scores.overall:.2f}")


@contextlib.asynccontextmanager
async def _scripted_player() -> AsyncIterator[Player]:
    """The scripted model on a loopback endpoint of this process, playing the persona from its rendered prompt; it
    draws from each call's seed, so it plays as the one `make run ENGINE=scripted` validates with."""
    from devtools.scripted_model import scripted_model
    from learning_svc.adapters.openai_engine import OpenAILearningEngine
    from tests.fake_openai import serving

    with serving(scripted_model) as fake:
        model = OpenAILearningEngine(fake.base_url, "", "scripted", 20.0, 0)

        async def play(persona: SimulatedPersona, rendered: ppb.RenderPromptResponse, seed: int) -> Sequence[Turn]:
            return await model.simulate_call(persona, rendered.system_prompt, seed)

        try:
            yield play
        finally:
            await model.close()


async def _main(args: argparse.Namespace) -> None:
    scripted = args.engine == "scripted"
    async with development_channel(args.persona, "admin", subject=ACTOR) as p, \
            development_channel(args.transcript, "admin", subject=ACTOR) as t, \
            development_channel(args.learning, "admin", subject=ACTOR) as lc, \
            (_scripted_player() if scripted else contextlib.nullcontext(stand_in)) as player:
        learnings = learning_service_pb2_grpc.LearningServiceStub(lc)

        async def run_finished(name: str) -> None:
            # A client of the API alone, so it polls the run as any operator's tool would.
            going = (lpb.RUN_STATE_QUEUED, lpb.RUN_STATE_RUNNING)
            while (await learnings.GetEvolutionRun(lpb.GetEvolutionRunRequest(name=name))).run.state in going:  # noqa: ASYNC110
                await asyncio.sleep(0.5)

        loop = ClosedLoop(persona_service_pb2_grpc.PersonaServiceStub(p),
                          transcript_service_pb2_grpc.TranscriptServiceStub(t), learnings,
                          audits_changed=lambda: asyncio.sleep(0.5), run_finished=run_finished,
                          calls=args.calls or (SCRIPTED_CALLS if scripted else 4), player=player,
                          flawed=SCRIPTED_FLAWED if scripted else FLAWED,
                          options=lpb.EvolutionOptions(engine=lpb.ENGINE_OPENAI, simulated_calls=VALIDATION_CALLS)
                          if scripted else None)
        await asyncio.wait_for(loop.run(), timeout=args.timeout)


def main() -> None:
    parser = argparse.ArgumentParser(prog="devtools.closed_loop", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persona", default=endpoint("persona").address)
    parser.add_argument("--transcript", default=endpoint("transcript").address)
    parser.add_argument("--learning", default=endpoint("learning").address)
    parser.add_argument("--calls", type=int, default=0,
                        help=f"calls per persona, before and after (default 4; {SCRIPTED_CALLS} with the scripted "
                             "model)")
    parser.add_argument("--engine", choices=("local", "scripted"), default="local",
                        help="who plays the personas and validates: the local stand-in, or the scripted model "
                             "(`make run ENGINE=scripted` up)")
    parser.add_argument("--timeout", type=float, default=300, help="give up after this many seconds")
    args = parser.parse_args()
    try:
        eventloop.run(_main(args))
    except grpc.aio.AioRpcError as error:
        running = "make run ENGINE=scripted" if args.engine == "scripted" else "make run"
        raise SystemExit(f"{error.code().name}: {error.details()} (is `{running}` up?)") from None
    except TimeoutError:
        raise SystemExit("the loop did not close in time: are all four services up?") from None


if __name__ == "__main__":
    main()
