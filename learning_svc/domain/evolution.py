"""The pure stages of a prompt evolution run: analyze corpus -> identify patterns -> generate
refinements -> validate (judge simulated calls) -> apply.

No I/O: the service reads the audits and active patches, runs the simulations (simulation.simulate) and
writes the results; these functions only compute. Outputs carry the contract's names (fields are the proto
field names, enum values the proto enum value names, nested lists tuples), so dataclasses.asdict of any of
them parses into its sparring.learning.v1 message with json_format.ParseDict; only engines are named as in the
analysis service ("local", "openai"), and the entry points give them their proto names."""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from statistics import fmean

from calls.persona_audit import (
    CONTRADICTS_SCENARIO_FIX,
    EARLY_DISCLOSURE_FIX,
    HOSTILITY_FIX,
    MINIMAL_ANSWER_FIX,
    NO_RESISTANCE_FIX,
    REPETITION_FIX,
    UNRESPONSIVE_FIX,
    AuditScores,
    FlaggedQuote,
    FlagReason,
    PersonaAudit,
    WordRange,
    target_words_per_turn,
)
from learning_svc.domain.patches import (
    PartEdit,
    PatchChange,
    PatchOperation,
    PatchScope,
    PatchState,
    PatchTarget,
    PromptPart,
    PromptPatch,
)
from learning_svc.domain.simulation import (
    AuditScoreMeans,
    SimulatedPersona,
    SimulationSummary,
    gives_budget_first,
    phrase_key,
    score_means,
)

MAX_TOP_PHRASES = 20
MAX_EVIDENCE_AUDITS = 50
MAX_EVIDENCE_QUOTES = 10
# A phrase repeats when it is flagged in at least this share of an archetype's audits (and in two of them).
REPEATED_PHRASE_SHARE = 0.4
REPEATED_PHRASE_MIN_AUDITS = 2
# Enthusiasm leaks, and the other character flags, are a pattern from this share of audits on.
LEAK_RATE_THRESHOLD = 0.3
FLAG_RATE_THRESHOLD = 0.3
# One phrase explains the leaks (a ban is the fix, not a calmer tone) when it is named in this share of them.
EXPLAINED_SHARE = 0.8


class FindingKind(StrEnum):
    VERBOSITY = "FINDING_KIND_VERBOSITY"
    ENTHUSIASM_LEAK = "FINDING_KIND_ENTHUSIASM_LEAK"
    REPEATED_PHRASE = "FINDING_KIND_REPEATED_PHRASE"
    OUT_OF_CHARACTER = "FINDING_KIND_OUT_OF_CHARACTER"
    INCONSISTENCY = "FINDING_KIND_INCONSISTENCY"
    PACING = "FINDING_KIND_PACING"
    EARLY_DISCLOSURE = "FINDING_KIND_EARLY_DISCLOSURE"
    NO_RESISTANCE = "FINDING_KIND_NO_RESISTANCE"
    UNRESPONSIVE = "FINDING_KIND_UNRESPONSIVE"
    REPETITION = "FINDING_KIND_REPETITION"
    CONTRADICTS_SCENARIO = "FINDING_KIND_CONTRADICTS_SCENARIO"
    HOSTILITY = "FINDING_KIND_HOSTILITY"
    MINIMAL_ANSWER = "FINDING_KIND_MINIMAL_ANSWER"


class Engine(StrEnum):
    """What made a step's output: the deterministic local engine, or a model behind an OpenAI-compatible API."""

    LOCAL = "local"
    OPENAI = "openai"


def flag_reason_name(reason: FlagReason | str) -> str:
    """The proto name of a flag reason: FlagReason.TOO_LONG -> "FLAG_REASON_TOO_LONG"."""
    return f"FLAG_REASON_{_reason(reason).name}"


def _reason(reason: FlagReason | str) -> FlagReason:
    if isinstance(reason, FlagReason):
        return reason
    return FlagReason(str(reason).removeprefix("FLAG_REASON_").lower())


# ---------------------------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class CorpusAudit:
    """A persona audit of the corpus (sparring.learning.v1.CorpusAudit, the fields the stages read)."""

    name: str  # "corpusAudits/{id}"
    persona: str  # "personas/{id}"
    persona_display_name: str
    archetype: str  # "archetypes/{id}", or ""
    difficulty: int
    scores: AuditScores
    overall_score: float
    avg_words_per_turn: float
    target_words_per_turn: WordRange
    persona_turn_count: int
    flagged_quotes: tuple[FlaggedQuote, ...]  # reason a svckit FlagReason (its proto name is accepted too)
    audit_time: datetime

    @classmethod
    def of(
        cls, audit: PersonaAudit, *, name: str, persona: str, audit_time: datetime, persona_display_name: str = ""
    ) -> CorpusAudit:
        """From an auditor result (whose archetype is the bare id)."""
        return cls(
            name=name,
            persona=persona,
            persona_display_name=persona_display_name,
            archetype=f"archetypes/{audit.archetype}" if audit.archetype else "",
            difficulty=audit.difficulty,
            scores=audit.scores,
            overall_score=audit.overall_score,
            avg_words_per_turn=audit.avg_words_per_turn,
            target_words_per_turn=audit.target_words_per_turn,
            persona_turn_count=audit.persona_turn_count,
            flagged_quotes=audit.flagged_quotes,
            audit_time=audit_time,
        )


@dataclass(frozen=True, slots=True)
class FlagCount:
    reason: str  # "FLAG_REASON_TOO_LONG"...
    count: int


@dataclass(frozen=True, slots=True)
class PhraseCount:
    phrase: str  # normalised: lowercase, trimmed
    audit_count: int
    occurrence_count: int


@dataclass(frozen=True, slots=True)
class ArchetypeCorpusStats:
    archetype: str
    audit_count: int
    avg_words_per_turn: float
    target_words_per_turn: WordRange
    enthusiasm_leak_rate: float
    mean_scores: AuditScoreMeans
    flag_counts: tuple[FlagCount, ...]
    top_phrases: tuple[PhraseCount, ...]


@dataclass(frozen=True, slots=True)
class EvidenceQuote:
    audit: str
    text: str
    sequence: int
    candidate_text: str = ""  # what the candidate said just before
    persona: str = ""


@dataclass(frozen=True, slots=True)
class Finding:
    finding_id: str
    archetype: str
    kind: FindingKind
    summary: str
    observed_value: float
    target_min: float
    target_max: float
    phrase: str
    affected_audit_count: int
    considered_audit_count: int
    evidence_audits: tuple[str, ...]
    evidence_quotes: tuple[EvidenceQuote, ...]
    min_difficulty: int = 0  # of the affected audits' personas (0: they name none)
    max_difficulty: int = 0


@dataclass(frozen=True, slots=True)
class Refinement:
    refinement_id: str
    archetype: str
    target: PatchTarget
    operation: PatchOperation
    text: str
    phrase: str
    words_per_turn: WordRange | None
    finding_ids: tuple[str, ...]
    rationale: str
    supersedes: str
    part: PromptPart | None = None  # EDIT_PART only, as are the three below (see PatchChange)
    edit: PartEdit | None = None
    find_text: str = ""
    scope: PatchScope | None = None

    @property
    def change(self) -> PatchChange:
        """What the patch written for it does to the prompt."""
        return PatchChange(self.archetype, self.target, self.operation, self.text, self.phrase, self.words_per_turn,
                           self.part, self.edit, self.find_text, self.scope)


MAX_PROPOSED_CHARS = 1000


@dataclass(frozen=True, slots=True)
class DroppedRefinement:
    """A proposed refinement that failed the checks a patch of the API gets: never stored."""

    proposed: str  # what was proposed, as JSON, at most MAX_PROPOSED_CHARS
    reason: str  # UPPER_SNAKE, e.g. "INVALID_PATCH", "UNKNOWN_FINDING", "TARGET_TEXT_ABSENT"
    field: str  # the field at fault, e.g. "patch.part"
    description: str


def proposed(record: object) -> str:
    """A proposal as a dropped refinement shows it: JSON, cut to MAX_PROPOSED_CHARS."""
    text = json.dumps(record, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= MAX_PROPOSED_CHARS else text[:MAX_PROPOSED_CHARS - 3] + "..."


@dataclass(frozen=True, slots=True)
class Proposals:
    """What an engine proposes for the findings: the refinements that passed their checks, and the others."""

    refinements: tuple[Refinement, ...]
    dropped: tuple[DroppedRefinement, ...] = ()


@dataclass(frozen=True, slots=True)
class PersonaBrief:
    """A flagged persona as the refinement engine is shown it: the prompt its voice agent gets now (its active patches
    applied), and the named parts a structured patch edits."""

    persona: str  # "personas/{id}"
    archetype: str
    difficulty: int
    rendered_prompt: str
    archetype_guidance: str
    communication_style: str
    personality_traits: tuple[str, ...]
    objection_patterns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PersonaSideEffect:
    """What a refinement does to one persona it reaches: its calls without and with it, and what got worse."""

    persona: str
    difficulty: int
    baseline: SimulationSummary
    patched: SimulationSummary
    regressed: tuple[str, ...]  # audit score names, and WORDS_PER_TURN
    # What RenderPrompt applied on each side, and withheld on the patched one.
    baseline_patches: tuple[str, ...] = ()
    patched_patches: tuple[str, ...] = ()
    withheld_patches: tuple[str, ...] = ()
    engine: Engine = Engine.LOCAL  # what played both sides


@dataclass(frozen=True, slots=True)
class ValidatedPersona:
    """One persona that played a validation's calls: what RenderPrompt applied on each side (and withheld on the
    patched one), and its calls' mean overall score on each side."""

    persona: str
    baseline_patches: tuple[str, ...]
    patched_patches: tuple[str, ...]
    withheld_patches: tuple[str, ...]
    calls: int
    baseline_score: float
    patched_score: float


@dataclass(frozen=True, slots=True)
class ValidationResult:
    refinement_id: str
    baseline: SimulationSummary
    patched: SimulationSummary
    score_gain: float
    passed: bool
    explanation: str
    engine: Engine
    p_value: float = 1.0  # of the sign test on the targeted score (see judge)
    fallback_reason: str = ""  # why the local engine validated it when the run asked for the openai engine
    side_effects: tuple[PersonaSideEffect, ...] = ()  # on every persona it reaches, when it passed (see side_effect)
    personas: tuple[ValidatedPersona, ...] = ()  # that played its calls, in turn


# ---------------------------------------------------------------------------------------------- analyze corpus

# A quoted name in a flag explanation: "Enthusiasm leak: 'I appreciate that', 2 exclamation marks".
_QUOTED_NAME = re.compile(r"(?<!\w)'(.+?)'(?=$|[\s,;:.)])")


def quoted_phrases(explanation: str) -> tuple[str, ...]:
    """The phrases a flag explanation names, as written, in order, without repeats."""
    return tuple(dict.fromkeys(match.group(1).strip() for match in _QUOTED_NAME.finditer(explanation)))


def _by_archetype(audits: Iterable[CorpusAudit]) -> dict[str, list[CorpusAudit]]:
    groups: dict[str, list[CorpusAudit]] = defaultdict(list)
    for audit in audits:
        groups[audit.archetype].append(audit)
    # Newest first within each archetype, as the corpus is listed; the name breaks ties.
    return {
        archetype: sorted(group, key=lambda a: (a.audit_time, a.name), reverse=True)
        for archetype, group in sorted(groups.items())
    }


def _has(audit: CorpusAudit, reason: FlagReason) -> bool:
    return any(_reason(quote.reason) == reason for quote in audit.flagged_quotes)


# normalised phrase -> (the form most often written, audits it appears in, occurrences)
PhraseCounts = dict[str, tuple[str, set[str], int]]


def _phrase_counts(
    audits: Sequence[CorpusAudit], reasons: frozenset[FlagReason] | None = None
) -> PhraseCounts:
    """normalised phrase -> (the form most often written, audits it appears in, occurrences)."""
    forms: dict[str, Counter[str]] = defaultdict(Counter)
    seen: dict[str, set[str]] = defaultdict(set)
    occurrences: Counter[str] = Counter()
    for audit in audits:
        for quote in audit.flagged_quotes:
            if reasons is not None and _reason(quote.reason) not in reasons:
                continue
            for phrase in quoted_phrases(quote.explanation):
                key = _normal(phrase)
                if not key:
                    continue
                forms[key][phrase] += 1
                seen[key].add(audit.name)
                occurrences[key] += 1
    return {
        key: (min(forms[key].items(), key=lambda item: (-item[1], item[0]))[0], seen[key], occurrences[key])
        for key in occurrences
    }


def _normal(phrase: str) -> str:
    return " ".join(phrase.casefold().split()).strip()


def analyze_corpus(audits: Iterable[CorpusAudit]) -> tuple[ArchetypeCorpusStats, ...]:
    """One entry per archetype, ordered by archetype."""
    stats = []
    for archetype, group in _by_archetype(audits).items():
        turns = sum(audit.persona_turn_count for audit in group)
        if turns:
            average = sum(audit.avg_words_per_turn * audit.persona_turn_count for audit in group) / turns
        else:
            average = sum(audit.avg_words_per_turn for audit in group) / len(group)
        targets = Counter((a.target_words_per_turn.min_words, a.target_words_per_turn.max_words) for a in group)
        target = min(targets.items(), key=lambda item: (-item[1], item[0][1], item[0][0]))[0]
        scores = score_means(audit.scores.as_tuple() for audit in group)
        flags = Counter(_reason(quote.reason) for audit in group for quote in audit.flagged_quotes)
        phrases = sorted(
            (PhraseCount(key, len(names), count) for key, (_, names, count) in _phrase_counts(group).items()),
            key=lambda p: (-p.occurrence_count, -p.audit_count, p.phrase),
        )
        stats.append(
            ArchetypeCorpusStats(
                archetype=archetype,
                audit_count=len(group),
                avg_words_per_turn=round(average, 2),
                target_words_per_turn=WordRange(*target),
                enthusiasm_leak_rate=round(sum(_has(a, FlagReason.ENTHUSIASM_LEAK) for a in group) / len(group), 4),
                mean_scores=scores,
                flag_counts=tuple(
                    FlagCount(flag_reason_name(reason), flags[reason]) for reason in FlagReason if flags[reason]
                ),
                top_phrases=tuple(phrases[:MAX_TOP_PHRASES]),
            )
        )
    return tuple(stats)


# ---------------------------------------------------------------------------------------------- identify patterns


def display_name(archetype: str) -> str:
    """How summaries name an archetype: "archetypes/owl" -> "Owl"; without an archetype, "Unassigned"."""
    identifier = archetype.removeprefix("archetypes/")
    return identifier[:1].upper() + identifier[1:] if identifier else "Unassigned"


def _number(value: float) -> str:
    return f"{round(value, 1):g}"


def _quotes(
    audits: Sequence[CorpusAudit], keep: Callable[[FlaggedQuote], bool], order: str = "audit"
) -> tuple[EvidenceQuote, ...]:
    found = [(audit, quote) for audit in audits for quote in audit.flagged_quotes if keep(quote)]
    if order == "length":
        found.sort(key=lambda item: -len(item[1].text))
    return tuple(EvidenceQuote(audit.name, quote.text, quote.sequence, quote.candidate_text, audit.persona)
                 for audit, quote in found[:MAX_EVIDENCE_QUOTES])


_FLAG_FINDINGS: tuple[tuple[FlagReason, FindingKind, str], ...] = (
    (FlagReason.OUT_OF_CHARACTER, FindingKind.OUT_OF_CHARACTER, "{name} personas break character in {n} of {m} calls"),
    (
        FlagReason.INCONSISTENT,
        FindingKind.INCONSISTENCY,
        "{name} personas use a tone their traits rule out in {n} of {m} calls",
    ),
    (
        FlagReason.PACING,
        FindingKind.PACING,
        "{name} personas give in too early or monologue in {n} of {m} calls",
    ),
    (FlagReason.EARLY_DISCLOSURE, FindingKind.EARLY_DISCLOSURE,
     "{name} personas give their budget, signer or deadline before the candidate earns them in {n} of {m} calls"),
    (FlagReason.NO_RESISTANCE, FindingKind.NO_RESISTANCE,
     "{name} personas accept claims without any objection in {n} of {m} calls"),
    (FlagReason.UNRESPONSIVE, FindingKind.UNRESPONSIVE,
     "{name} personas answer something other than what was asked in {n} of {m} calls"),
    (FlagReason.REPETITION, FindingKind.REPETITION, "{name} personas repeat an earlier answer in {n} of {m} calls"),
    (FlagReason.CONTRADICTS_SCENARIO, FindingKind.CONTRADICTS_SCENARIO,
     "{name} personas contradict the scenario's facts in {n} of {m} calls"),
    (FlagReason.HOSTILITY, FindingKind.HOSTILITY, "{name} personas insult the candidate in {n} of {m} calls"),
    (FlagReason.MINIMAL_ANSWER, FindingKind.MINIMAL_ANSWER,
     "{name} personas answer open questions in a word or three in {n} of {m} calls"),
)


@dataclass(frozen=True, slots=True)
class _Draft:
    """A finding of one archetype before it is numbered."""

    kind: FindingKind
    summary: str
    observed_value: float
    affected: Sequence[CorpusAudit]
    evidence: Sequence[CorpusAudit]
    quotes: tuple[EvidenceQuote, ...]
    target_min: float = 0.0
    target_max: float = 0.0
    phrase: str = ""
    difficulties: tuple[int, ...] = ()  # the difficulties the finding is of, when not all of the affected audits'

    def finding(self, finding_id: str, archetype: str, considered: int) -> Finding:
        difficulties = [d for d in self.difficulties or (audit.difficulty for audit in self.affected) if d]
        return Finding(
            finding_id=finding_id,
            archetype=archetype,
            kind=self.kind,
            summary=self.summary,
            observed_value=self.observed_value,
            target_min=self.target_min,
            target_max=self.target_max,
            phrase=self.phrase,
            affected_audit_count=len(self.affected),
            considered_audit_count=considered,
            evidence_audits=tuple(a.name for a in self.evidence[:MAX_EVIDENCE_AUDITS]),
            evidence_quotes=self.quotes,
            min_difficulty=min(difficulties, default=0),
            max_difficulty=max(difficulties, default=0),
        )


def identify_patterns(
    audits: Iterable[CorpusAudit], stats: Sequence[ArchetypeCorpusStats], min_audits: int
) -> tuple[Finding, ...]:
    """Findings per archetype with at least min_audits audits, in archetype order and, within one, in the
    order verbosity, repeated phrases (most calls first), enthusiasm leak, out of character, inconsistency,
    pacing; numbered f1, f2, ..."""
    groups = _by_archetype(audits)
    findings: list[Finding] = []
    for entry in sorted(stats, key=lambda s: s.archetype):
        group = groups.get(entry.archetype, [])
        if len(group) < max(1, min_audits):
            continue
        for draft in _drafts(entry, group):
            findings.append(draft.finding(f"f{len(findings) + 1}", entry.archetype, len(group)))
    return tuple(findings)


def _drafts(entry: ArchetypeCorpusStats, group: Sequence[CorpusAudit]) -> list[_Draft]:
    name = display_name(entry.archetype)
    leak_phrases = _phrase_counts(group, frozenset({FlagReason.ENTHUSIASM_LEAK}))
    return [
        *_verbosity(entry, group, name),
        *_repeated_phrases(group, name, leak_phrases),
        *_enthusiasm_leak(group, name, leak_phrases),
        *_flag_findings(group, name),
    ]


def _verbosity(entry: ArchetypeCorpusStats, group: Sequence[CorpusAudit], name: str) -> list[_Draft]:
    target = entry.target_words_per_turn
    if entry.avg_words_per_turn <= target.max_words:
        return []
    over = [a for a in group if a.avg_words_per_turn > a.target_words_per_turn.max_words]
    # Furthest over first; the sort is stable, so newest first among equals.
    over_sorted = sorted(over, key=lambda a: -a.avg_words_per_turn / a.target_words_per_turn.max_words)
    return [
        _Draft(
            kind=FindingKind.VERBOSITY,
            summary=f"{name} personas average {_number(entry.avg_words_per_turn)} words/turn "
            f"(target {target.min_words}-{target.max_words})",
            observed_value=entry.avg_words_per_turn,
            target_min=float(target.min_words),
            target_max=float(target.max_words),
            affected=over,
            evidence=over_sorted,
            quotes=_quotes(over_sorted, lambda q: _reason(q.reason) == FlagReason.TOO_LONG, order="length"),
            # The range is the target of a difficulty (the auditor's): a refinement tells it to that one only.
            difficulties=tuple(d for d in range(1, 6) if target_words_per_turn(d) == target),
        )
    ]


def _names_phrase(key: str) -> Callable[[FlaggedQuote], bool]:
    """Whether a quote is an enthusiasm leak that names the phrase of ``key``."""
    def keep(quote: FlaggedQuote) -> bool:
        return _reason(quote.reason) == FlagReason.ENTHUSIASM_LEAK and key in {
            _normal(p) for p in quoted_phrases(quote.explanation)
        }

    return keep


def _of_reason(reason: FlagReason) -> Callable[[FlaggedQuote], bool]:
    def keep(quote: FlaggedQuote) -> bool:
        return _reason(quote.reason) == reason

    return keep


def _repeated_phrases(group: Sequence[CorpusAudit], name: str, leak_phrases: PhraseCounts) -> list[_Draft]:
    """One finding per leaked phrase said in enough calls, most calls first."""
    considered = len(group)
    needed = max(REPEATED_PHRASE_MIN_AUDITS, math.ceil(REPEATED_PHRASE_SHARE * considered))
    repeated = sorted(
        ((form, names) for form, names, _ in leak_phrases.values() if len(names) >= needed),
        key=lambda item: (-len(item[1]), _normal(item[0])),
    )
    drafts = []
    for form, names in repeated:
        affected = [a for a in group if a.name in names]
        drafts.append(
            _Draft(
                kind=FindingKind.REPEATED_PHRASE,
                summary=f"{name} says '{form}' in {len(affected)} of {considered} calls",
                observed_value=round(len(affected) / considered, 4),
                phrase=form,
                affected=affected,
                evidence=affected,
                quotes=_quotes(affected, _names_phrase(_normal(form))),
            )
        )
    return drafts


def _enthusiasm_leak(group: Sequence[CorpusAudit], name: str, leak_phrases: PhraseCounts) -> list[_Draft]:
    """Leaks in enough calls that no single repeated phrase explains."""
    considered = len(group)
    leaking = [a for a in group if _has(a, FlagReason.ENTHUSIASM_LEAK)]
    leak_quotes = [
        {_normal(p) for p in quoted_phrases(q.explanation)}
        for a in leaking
        for q in a.flagged_quotes
        if _reason(q.reason) == FlagReason.ENTHUSIASM_LEAK
    ]
    explained = any(
        sum(key in names for names in leak_quotes) >= EXPLAINED_SHARE * len(leak_quotes) for key in leak_phrases
    )
    if not leaking or len(leaking) / considered < LEAK_RATE_THRESHOLD or explained:
        return []
    return [
        _Draft(
            kind=FindingKind.ENTHUSIASM_LEAK,
            summary=f"{name} personas leak enthusiasm in {len(leaking)} of {considered} calls",
            observed_value=round(len(leaking) / considered, 4),
            affected=leaking,
            evidence=leaking,
            quotes=_quotes(leaking, _of_reason(FlagReason.ENTHUSIASM_LEAK)),
        )
    ]


def _flag_findings(group: Sequence[CorpusAudit], name: str) -> list[_Draft]:
    """One finding per flag reason other than length and leaks (which have findings of their own), each when its
    flag is in enough calls."""
    considered = len(group)
    drafts = []
    for reason, kind, template in _FLAG_FINDINGS:
        affected = [a for a in group if _has(a, reason)]
        if affected and len(affected) / considered >= FLAG_RATE_THRESHOLD:
            drafts.append(
                _Draft(
                    kind=kind,
                    summary=template.format(name=name, n=len(affected), m=considered),
                    observed_value=round(len(affected) / considered, 4),
                    affected=affected,
                    evidence=affected,
                    quotes=_quotes(affected, _of_reason(reason)),
                )
            )
    return drafts


# ---------------------------------------------------------------------------------------------- generate refinements

# The texts are ones the local simulator understands (simulation.parse_rules).
ENTHUSIASM_RULE = "Keep a flat, guarded tone: no exclamation marks, and never gush over the caller's ideas."
IN_CHARACTER_RULE = (
    "Stay in character for the whole call: never mention being an AI, your instructions or your difficulty, "
    "and never offer to help."
)
CONSISTENT_TONE_RULE = (
    "Keep the tone your traits give you: no warm pleasantries if you are cool, no harsh put-downs if you are warm."
)
HOLD_GROUND_RULE = (
    "Hold your ground: agree to nothing until the candidate has answered your objections, and make one point per turn."
)
# What replaces a persona's own words that tell it to give its budget away first.
HOLD_BACK_BUDGET = "holds back its budget, who signs and its deadline until the candidate has earned them"

# Worst first, as the auditor orders its flags.
_SEVERITY = {
    FindingKind.OUT_OF_CHARACTER: 0,
    FindingKind.ENTHUSIASM_LEAK: 1,  # the broader fix before the bans of single phrases
    FindingKind.REPEATED_PHRASE: 2,
    FindingKind.INCONSISTENCY: 3,
    FindingKind.VERBOSITY: 4,
    FindingKind.PACING: 5,
    FindingKind.HOSTILITY: 6,
    FindingKind.EARLY_DISCLOSURE: 7,
    FindingKind.CONTRADICTS_SCENARIO: 8,
    FindingKind.NO_RESISTANCE: 9,
    FindingKind.UNRESPONSIVE: 10,
    FindingKind.REPETITION: 11,
    FindingKind.MINIMAL_ANSWER: 12,
}


def length_rule(words_per_turn: WordRange) -> str:
    return f"Keep every answer to {words_per_turn} words until the candidate earns more."


def ban_rule(phrase: str) -> str:
    return f"Never say '{phrase}' - too warm for someone who didn't ask for this call."


def _applies(patch: PromptPatch, archetype: str) -> bool:
    return patch.state == PatchState.ACTIVE and patch.archetype in ("", archetype)


def same_effect(refinement: Refinement, patch: PromptPatch) -> bool:
    """Whether an ACTIVE patch that applies to the refinement's archetype already does what it would do."""
    if not _applies(patch, refinement.archetype):
        return False
    if refinement.part == PromptPart.LENGTH_RANGE and patch.operation == PatchOperation.CHANGE_LENGTH_RANGE:
        return patch.words_per_turn == refinement.words_per_turn  # already told to every persona of the archetype
    if patch.operation != refinement.operation:
        return False
    if refinement.operation == PatchOperation.BAN_PHRASE:
        return phrase_key(patch.phrase or patch.text) == phrase_key(refinement.phrase)
    if refinement.operation == PatchOperation.CHANGE_LENGTH_RANGE:
        return patch.words_per_turn == refinement.words_per_turn
    if refinement.operation == PatchOperation.EDIT_PART:
        return (patch.part, patch.edit, _normal(patch.find_text), patch.words_per_turn, patch.scope,
                _normal(patch.text)) == (refinement.part, refinement.edit, _normal(refinement.find_text),
                                         refinement.words_per_turn, refinement.scope, _normal(refinement.text))
    return patch.target == refinement.target and _normal(patch.text) == _normal(refinement.text)


def _change(finding: Finding) -> tuple[PatchTarget, PatchOperation, str, str, WordRange | None, str]:
    """(target, operation, text, phrase, words_per_turn, rationale) for a finding."""
    kind = finding.kind
    if kind == FindingKind.VERBOSITY:
        words_per_turn = WordRange(int(finding.target_min), int(finding.target_max))
        return (
            PatchTarget.VOICE_PROMPT,
            PatchOperation.EDIT_PART,
            length_rule(words_per_turn),
            "",
            words_per_turn,
            f"{finding.summary}: a firm words-per-turn range brings answers back to target.",
        )
    if kind == FindingKind.REPEATED_PHRASE:
        return (
            PatchTarget.VOICE_PROMPT,
            PatchOperation.BAN_PHRASE,
            ban_rule(finding.phrase),
            finding.phrase,
            None,
            f"{finding.summary}: banning the phrase removes the habit without rewriting the prompt.",
        )
    rules = {
        FindingKind.ENTHUSIASM_LEAK: (PatchTarget.VOICE_PROMPT, ENTHUSIASM_RULE, "a calm-tone rule stops the leaks"),
        FindingKind.OUT_OF_CHARACTER: (
            PatchTarget.SYSTEM_PROMPT,
            IN_CHARACTER_RULE,
            "an explicit stay-in-character rule stops the breaks",
        ),
        FindingKind.INCONSISTENCY: (
            PatchTarget.ELEMENTAL_BEHAVIOR,
            CONSISTENT_TONE_RULE,
            "tying the tone to the traits removes the off-tone phrases",
        ),
        FindingKind.PACING: (
            PatchTarget.ELEMENTAL_BEHAVIOR,
            HOLD_GROUND_RULE,
            "holding ground until objections are answered fixes the pacing",
        ),
        # What the auditor recommends for its coach's flags; the local simulator plays none of these flaws but a
        # budget given away first (see _budget_passages), so only the model path can validate the rules below.
        FindingKind.EARLY_DISCLOSURE: (PatchTarget.SYSTEM_PROMPT, EARLY_DISCLOSURE_FIX,
                                       "facts held back until they are earned"),
        FindingKind.NO_RESISTANCE: (PatchTarget.ELEMENTAL_BEHAVIOR, NO_RESISTANCE_FIX + ".",
                                    "an objection before any claim is accepted"),
        FindingKind.UNRESPONSIVE: (PatchTarget.ELEMENTAL_BEHAVIOR, UNRESPONSIVE_FIX,
                                   "answering the question asked"),
        FindingKind.REPETITION: (PatchTarget.VOICE_PROMPT, REPETITION_FIX, "no answer said twice"),
        FindingKind.CONTRADICTS_SCENARIO: (PatchTarget.SYSTEM_PROMPT, CONTRADICTS_SCENARIO_FIX,
                                           "the scenario's facts kept"),
        FindingKind.HOSTILITY: (PatchTarget.ELEMENTAL_BEHAVIOR, HOSTILITY_FIX, "bluntness without insults"),
        FindingKind.MINIMAL_ANSWER: (PatchTarget.VOICE_PROMPT, MINIMAL_ANSWER_FIX,
                                     "something to work with in every answer"),
    }
    target, text, why = rules[kind]
    return target, PatchOperation.ADD_RULE, text, "", None, f"{finding.summary}: {why}."


def _scoped_to_flawed(finding: Finding, draft: Refinement) -> Refinement:
    """A verbosity finding's range is the target of the flawed personas' difficulties: told to those difficulties
    only, as a structured patch of the length range, since every other difficulty has a target of its own."""
    if finding.kind != FindingKind.VERBOSITY:
        return draft
    return replace(draft, part=PromptPart.LENGTH_RANGE, edit=PartEdit.REPLACE,
                   scope=PatchScope("", finding.min_difficulty, finding.max_difficulty))


def _budget_passages(finding: Finding, briefs: Sequence[PersonaBrief]) -> list[Refinement]:
    """For an early-disclosure finding, a structured patch per passage of a quoted persona's own traits or
    communication style that tells it to give its budget away first: the passage replaced by holding the budget back,
    for that persona's difficulty of its archetype (the side-effect check plays every persona it reaches)."""
    if finding.kind != FindingKind.EARLY_DISCLOSURE:
        return []
    quoted = {quote.persona for quote in finding.evidence_quotes}
    drafts = []
    for brief in briefs:
        if brief.persona not in quoted or brief.archetype != finding.archetype:
            continue
        passages = [(PromptPart.PERSONALITY_TRAITS, trait) for trait in brief.personality_traits]
        passages += [(PromptPart.COMMUNICATION_STYLE, clause.strip())
                     for clause in re.split(r"[;,.]", brief.communication_style)]
        for part, passage in passages:
            if not gives_budget_first(passage):
                continue
            drafts.append(Refinement(
                refinement_id="", archetype=finding.archetype, target=PatchTarget.VOICE_PROMPT,
                operation=PatchOperation.EDIT_PART, text=HOLD_BACK_BUDGET, phrase="", words_per_turn=None,
                finding_ids=(finding.finding_id,),
                rationale=f"{finding.summary}: {brief.persona} is told '{passage}'; holding the budget back until it "
                          f"is earned replaces it.",
                supersedes="", part=part, edit=PartEdit.REPLACE, find_text=passage,
                scope=PatchScope("", brief.difficulty, brief.difficulty)))
    return drafts


def superseded_length_range(active: Sequence[PromptPatch], archetype: str, target: PatchTarget) -> str:
    """The ACTIVE length-range patch of the archetype and target that a new length range replaces (the last one
    listed), or ""."""
    current = [
        p
        for p in active
        if p.state == PatchState.ACTIVE
        and p.operation == PatchOperation.CHANGE_LENGTH_RANGE
        and p.archetype == archetype
        and p.target == target
    ]
    return current[-1].name if current else ""


def generate_refinements(
    findings: Sequence[Finding], active: Sequence[PromptPatch], max_refinements: int,
    briefs: Sequence[PersonaBrief] = (),
) -> tuple[Refinement, ...]:
    """Surgical patches for the findings, most important first (most affected share of calls, then worst
    kind), numbered r1, r2, ...; none that an ACTIVE patch applying to the archetype already makes, at most
    max_refinements. A length range supersedes the ACTIVE length-range patch of the same archetype and target.
    An early disclosure that a flagged persona's own words call for (briefs) is fixed by editing those words."""
    ranked = sorted(
        enumerate(findings),
        key=lambda item: (
            -(item[1].affected_audit_count / item[1].considered_audit_count if item[1].considered_audit_count else 0),
            _SEVERITY[item[1].kind],
            item[0],
        ),
    )
    drafts: list[Refinement] = []
    for _, finding in ranked:
        target, operation, text, phrase, words_per_turn, rationale = _change(finding)
        supersedes = (
            superseded_length_range(active, finding.archetype, target)
            if operation == PatchOperation.CHANGE_LENGTH_RANGE
            else ""
        )
        draft = Refinement(
            refinement_id="",
            archetype=finding.archetype,
            target=target,
            operation=operation,
            text=text,
            phrase=phrase,
            words_per_turn=words_per_turn,
            finding_ids=(finding.finding_id,),
            rationale=rationale,
            supersedes=supersedes,
        )
        for proposal in _budget_passages(finding, briefs) or [_scoped_to_flawed(finding, draft)]:
            if any(same_effect(proposal, patch) for patch in active):
                continue
            duplicate = next((i for i, d in enumerate(drafts) if same_draft(d, proposal)), None)
            if duplicate is not None:
                kept = drafts[duplicate]
                drafts[duplicate] = replace(kept, finding_ids=(*kept.finding_ids, finding.finding_id))
                continue
            drafts.append(proposal)
    return tuple(
        replace(draft, refinement_id=f"r{index}") for index, draft in enumerate(drafts[:max_refinements], start=1)
    )


def same_draft(a: Refinement, b: Refinement) -> bool:
    return (a.archetype, a.target, a.operation, phrase_key(a.phrase), a.words_per_turn, _normal(a.text), a.part,
            a.edit, _normal(a.find_text), a.scope) == (
        b.archetype,
        b.target,
        b.operation,
        phrase_key(b.phrase),
        b.words_per_turn,
        _normal(b.text),
        b.part,
        b.edit,
        _normal(b.find_text),
        b.scope,
    )


# ---------------------------------------------------------------------------------------------- validate

# The score each kind of finding costs in the auditor (calls.persona_audit.audit_persona).
_TARGET_SCORE = {
    FindingKind.VERBOSITY: "brevity",
    FindingKind.ENTHUSIASM_LEAK: "enthusiasm_leak",
    FindingKind.REPEATED_PHRASE: "enthusiasm_leak",
    FindingKind.OUT_OF_CHARACTER: "authenticity",
    FindingKind.INCONSISTENCY: "consistency",
    FindingKind.PACING: "pacing",
    FindingKind.EARLY_DISCLOSURE: "pacing",
    FindingKind.NO_RESISTANCE: "pacing",
    FindingKind.UNRESPONSIVE: "authenticity",
    FindingKind.REPETITION: "authenticity",
    FindingKind.CONTRADICTS_SCENARIO: "consistency",
    FindingKind.HOSTILITY: "consistency",
    FindingKind.MINIMAL_ANSWER: "brevity",
}


def target_score(refinement: Refinement, findings: Sequence[Finding]) -> str:
    """The AuditScoreMeans field the refinement is meant to raise: from its first finding's kind ("overall"
    when none of its findings is known)."""
    by_id = {finding.finding_id: finding for finding in findings}
    kinds = [by_id[i].kind for i in refinement.finding_ids if i in by_id]
    return _TARGET_SCORE[kinds[0]] if kinds else "overall"


def overall_of(summary: SimulationSummary, index: int, players: int) -> tuple[int, float]:
    """Of calls played by ``players`` personas in turn, those of the ``index``-th: how many, and their mean overall
    score."""
    mine = summary.call_scores[index::players]
    return len(mine), round(fmean(scores.overall for scores in mine), 2) if mine else 0.0


# A refinement passes only when its gain is this unlikely to be chance.
SIGNIFICANCE = 0.05


def sign_test_p_value(differences: Iterable[float]) -> float:
    """One-sided exact sign test of paired differences: the chance, were rises and falls equally likely, of at
    least as many rises among the pairs that moved (ties say nothing either way and are left out)."""
    moved = [difference for difference in differences if abs(difference) > 1e-9]
    rises = sum(difference > 0 for difference in moved)
    return sum(math.comb(len(moved), k) for k in range(rises, len(moved) + 1)) / float(2 ** len(moved))


def smallest_p_value(pairs: int) -> float:
    """The least p-value the sign test can give over ``pairs`` pairs (all of them moved the same way): fewer pairs
    than it takes to get under a significance level can never show anything at that level."""
    return 0.5 ** pairs


def judge(
    refinement: Refinement,
    findings: Sequence[Finding],
    baseline: SimulationSummary,
    patched: SimulationSummary,
    min_score_gain: float,
    engine: Engine,
) -> ValidationResult:
    """Passed when the targeted score rose by at least min_score_gain, significantly (a one-sided exact sign test
    over the calls paired by seed, p < SIGNIFICANCE), and the overall score did not fall."""
    score = target_score(refinement, findings)
    before = float(getattr(baseline.scores, score))
    after = float(getattr(patched.scores, score))
    gain = round(after - before, 2)
    p_value = sign_test_p_value(float(getattr(b, score)) - float(getattr(a, score))
                                for a, b in zip(baseline.call_scores, patched.call_scores, strict=True))
    overall_before, overall_after = baseline.scores.overall, patched.scores.overall
    enough = gain >= min_score_gain - 1e-9
    significant = p_value < SIGNIFICANCE
    not_worse = overall_after >= overall_before - 1e-9
    label = score.replace("_", " ")
    moved = f"{label} went from {before:.2f} to {after:.2f} ({gain:+.2f}, {min_score_gain:+.2f} needed)"
    overall = f"overall from {overall_before:.2f} to {overall_after:.2f}"
    calls = f"over {patched.calls} simulated calls (sign test p = {p_value:.3f}, under {SIGNIFICANCE:g} needed)"
    if enough and significant and not_worse:
        explanation = f"Passed: {moved} and {overall} {calls}."
    elif enough and significant:
        explanation = f"Failed: {moved} but the overall score got worse, {overall} {calls}."
    elif enough:
        explanation = f"Failed: {moved}, not significant; {overall} {calls}."
    else:
        explanation = f"Failed: {moved}, not enough; {overall} {calls}."
    return ValidationResult(
        refinement_id=refinement.refinement_id,
        baseline=baseline,
        patched=patched,
        score_gain=gain,
        passed=enough and significant and not_worse,
        explanation=explanation,
        engine=engine,
        p_value=round(p_value, 4),
    )



# ---------------------------------------------------------------------------------------------- side effects

DIMENSIONS = ("brevity", "authenticity", "consistency", "enthusiasm_leak", "pacing")
# Checked besides the audit scores: calls moving further outside the persona's own target words per turn (a length
# range meant for another difficulty does that without costing the brevity score).
WORDS_PER_TURN = "words_per_turn"


def _off_target(words: float, target: WordRange) -> float:
    return max(0.0, target.min_words - words, words - target.max_words)


@dataclass(frozen=True, slots=True)
class GateDimension:
    """One audit dimension of a persona's calls before and after a change, paired by seed: whether the change made
    it significantly worse (a one-sided exact sign test, p < alpha)."""

    dimension: str
    mean_before: float
    mean_after: float
    p_value: float
    worse: bool
    worse_calls: int
    better_calls: int


def compare_dimensions(baseline: SimulationSummary, patched: SimulationSummary,
                       alpha: float = SIGNIFICANCE) -> tuple[GateDimension, ...]:
    """Each audit dimension of the calls without and with a change, paired by seed (the same seeds in the same
    order on both sides)."""
    pairs = list(zip(baseline.call_scores, patched.call_scores, strict=True))
    compared = []
    for name in DIMENSIONS:
        falls = [float(getattr(before, name)) - float(getattr(after, name)) for before, after in pairs]
        p_value = sign_test_p_value(falls)
        compared.append(GateDimension(
            name, float(getattr(baseline.scores, name)), float(getattr(patched.scores, name)), round(p_value, 4),
            p_value < alpha, sum(fall > 1e-9 for fall in falls), sum(fall < -1e-9 for fall in falls)))
    return tuple(compared)


def side_effect(persona: SimulatedPersona, baseline: SimulationSummary,
                patched: SimulationSummary) -> PersonaSideEffect:
    """The dimensions on which the persona's calls with the refinement are significantly worse than without it
    (paired by seed, one-sided exact sign test per dimension, p < SIGNIFICANCE)."""
    regressed = [compared.dimension for compared in compare_dimensions(baseline, patched) if compared.worse]
    target = target_words_per_turn(persona.difficulty)
    if sign_test_p_value(_off_target(b, target) - _off_target(a, target) for a, b in
                         zip(baseline.call_words_per_turn, patched.call_words_per_turn, strict=True)) < SIGNIFICANCE:
        regressed.append(WORDS_PER_TURN)
    return PersonaSideEffect(persona.persona, persona.difficulty, baseline, patched, tuple(regressed))


def _worse(effect: PersonaSideEffect) -> str:
    moved = []
    for name in effect.regressed:
        if name == WORDS_PER_TURN:
            moved.append(f"words per turn {effect.baseline.avg_words_per_turn:.1f} -> "
                         f"{effect.patched.avg_words_per_turn:.1f} (its target "
                         f"{target_words_per_turn(effect.difficulty)})")
        else:
            moved.append(f"{name.replace('_', ' ')} {getattr(effect.baseline.scores, name):.2f} -> "
                         f"{getattr(effect.patched.scores, name):.2f}")
    return f"{effect.persona} (difficulty {effect.difficulty}): {', '.join(moved)}"


def refuse_side_effects(result: ValidationResult, effects: Sequence[PersonaSideEffect]) -> ValidationResult:
    """The result with the side effects on every persona the refinement reaches; refused when any is worse on any
    dimension."""
    worse = [effect for effect in effects if effect.regressed]
    if not worse:
        return replace(result, side_effects=tuple(effects))
    explanation = (f"Refused: {result.explanation.removeprefix('Passed: ').rstrip('.')}, but it makes personas it "
                   f"reaches worse: {'; '.join(_worse(effect) for effect in worse)}.")
    return replace(result, side_effects=tuple(effects), passed=False, explanation=explanation)
