"""A/B experiments between persona variants on live sessions: deterministic assignment, outcomes folded into
running statistics one at a time, and the sequential (or fixed-horizon) test deciding promotion or a stop.

An experiment is one document row, locked while an outcome is folded in, so results never lose an update."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import Counter

from learning_svc.domain.experiments import (
    ExperimentMetric,
    ExperimentSettings,
    ExperimentState,
    RunningStats,
    TestMethod,
    Variant,
    bucket,
    counts_outcome,
    evaluate,
    traffic_for_state,
    variant_for_new_session,
)
from learning_svc.domain.patches import PatchChange, PatchOrigin
from learning_svc.service_layer.organizations import owner
from learning_svc.service_layer.patches import Provenance, approve_in, new_patch
from learning_svc.service_layer.ports import Assignment, Document, Filters, LearningUnitOfWork, UnitsOfWork
from svckit.errors import EtagMismatch, FailedPrecondition, NotFound
from svckit.pagination import PageTokens, page_size
from svckit.records import from_record, to_record
from svckit.usecase import Mutation, Page, run_idempotent

DECISIONS = Counter("sparring_learning_experiment_decisions_total",
                    "Experiments ended by their test, by final state.", ("state",))
PROMOTIONS = Counter("sparring_learning_variant_promotions_total",
                     "Promoted variants whose modifications became their persona's patches (each owed a persona "
                     "version, delivered through the promotions outbox).")


@dataclass(frozen=True)
class Outcome:
    experiment: Document
    duplicate: bool


@dataclass(frozen=True)
class _Document:
    """The answer a retried request gets back."""

    document: Document


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _variants(document: Document) -> list[Variant]:
    return [Variant(v["variant_id"], v["persona"], v["traffic_bps"], v.get("control", False))
            for v in document["variants"]]


def _settings(document: Document) -> ExperimentSettings:
    return ExperimentSettings(ExperimentMetric(document["metric"]), document["confidence_level"],
                              TestMethod(document["test_method"]), document.get("horizon_samples", 0),
                              document["min_samples"])


def _stopped(document: Document) -> set[str]:
    return {r["variant_id"] for r in document.get("results", []) if r["status"] == "VARIANT_STATUS_STOPPED_WORSE"}


def _touched(document: Document) -> Document:
    version = document.get("version", 0) + 1
    etag = hashlib.sha256(f"{document['name']}:{version}".encode()).hexdigest()[:16]
    return {**document, "version": version, "etag": etag, "update_time": _now()}


def _metric_value(document: Document, say_meter_score: int | None, audit_score: float | None) -> float | None:
    """The newly recorded value of the experiment's metric, if this outcome brought one."""
    metric = ExperimentMetric(document["metric"])
    if metric == ExperimentMetric.SAY_METER_SCORE and say_meter_score is not None:
        return float(say_meter_score)
    if metric == ExperimentMetric.AUDIT_SCORE and audit_score is not None:
        return float(audit_score)
    return None


def _fold(document: Document, variant_id: str, value: float) -> Document:
    """The experiment with one more outcome counted and its test evaluated again."""
    settings = _settings(document)
    stats = {key: RunningStats(*numbers) for key, numbers in document.get("stats", {}).items()}
    current = stats.get(variant_id, RunningStats())
    if not counts_outcome(settings, current):
        return document
    stats[variant_id] = current.add(value)
    previous = {r["variant_id"]: r["p_value"] for r in document.get("results", [])}
    evaluation = evaluate(settings, _variants(document), stats, previous, _stopped(document))
    folded = {**document, "stats": {key: [s.count, s.mean, s.m2] for key, s in stats.items()},
              "results": to_record(evaluation.results), "state": evaluation.state.value,
              "winner_variant": evaluation.winner_variant, "stop_reason": evaluation.stop_reason}
    if evaluation.state != ExperimentState.RUNNING:
        folded["end_time"] = _now()
        DECISIONS.labels(evaluation.state.value).inc()
    return _touched(folded)


@dataclass(frozen=True)
class SessionVariant:
    """The variant a session plays: its experiment's name, its id and its stored modifications."""

    experiment: str
    variant_id: str
    modifications: list[Document]


async def _promote(uow: LearningUnitOfWork, document: Document) -> Document:
    """In the transaction that decided it: the promoted variant's modifications become ACTIVE patches of its persona,
    and the persona service is owed a version recording the promotion (an outbox row, delivered after commit)."""
    winner = next(v for v in document["variants"] if v["variant_id"] == document["winner_variant"])
    if winner.get("control") or not winner.get("changes"):
        return document  # the persona stays as it is
    name = document["name"]
    # Patch ids are at most 63 characters whatever the experiment's id.
    prefix = "promoted-" + hashlib.sha256(name.encode()).hexdigest()[:16]
    now = datetime.now(UTC)
    promoted = []
    for index, record in enumerate(winner["changes"]):
        provenance = Provenance(PatchOrigin.EXPERIMENT_PROMOTION, f"variant {winner['variant_id']} of {name}, "
                                                                   "promoted by its sequential test")
        patch = new_patch(f"{prefix}-{index}", from_record(PatchChange, record), provenance, now)
        await uow.patches.add(patch, name, "a promoted variant's modification")
        promoted.append((await approve_in(uow.patches, patch, name, "promoted by the experiment")).name)
    control = next(v for v in document["variants"] if v.get("control"))
    figures = [{key: result[key] for key in ("variant_id", "samples", "mean", "effect", "p_value")}
               for result in document["results"]]
    await uow.experiments.owe_promotion(name.removeprefix("experiments/"), winner["persona"], {
        "experiment": name, "winner_variant": winner["variant_id"], "control_variant": control["variant_id"],
        "metric": document["metric"], "figures": figures, "patches": promoted})
    PROMOTIONS.inc()
    return {**document, "promoted_patches": promoted}


async def _load(uow: LearningUnitOfWork, experiment_id: str, lock: bool = False) -> Document:
    document = await uow.experiments.get(experiment_id, lock)
    if document is None:
        raise NotFound(f"experiments/{experiment_id}", reason="EXPERIMENT_NOT_FOUND")
    return document


class Experiments:
    def __init__(self, units: UnitsOfWork, page_tokens: PageTokens) -> None:
        self._units = units
        self._tokens = page_tokens

    async def create(self, experiment_id: str, document: Document, mutation: Mutation) -> Document:
        """``document`` holds the validated settings and variants, defaults filled in."""
        experiment_id = experiment_id or str(uuid.uuid4())
        evaluation = evaluate(_settings(document), _variants(document), {}, {}, ())
        created = _touched({**document, "name": f"experiments/{experiment_id}", "state": evaluation.state.value,
                            "winner_variant": "", "stop_reason": "", "results": to_record(evaluation.results),
                            "stats": {}, "create_time": _now()})

        async with self._units.transaction(owner(mutation.caller.organization)) as uow:
            async def create() -> _Document:
                if not await uow.experiments.add(experiment_id, created):
                    raise FailedPrecondition(f"experiments/{experiment_id} already exists",
                                             reason="EXPERIMENT_EXISTS")
                return _Document(created)

            stored = await run_idempotent(uow.requests, mutation, "CreateExperiment", create, _Document)
            await uow.commit()
        return stored.document

    async def get(self, organization: str, experiment_id: str) -> Document:
        async with self._units.read(organization) as uow:
            return await _load(uow, experiment_id)

    async def list(self, organization: str, filters: Filters, requested_size: int, token: str) -> Page[Document]:
        size = page_size(requested_size)
        after = self._tokens.decode(token, filters)
        async with self._units.read(organization) as uow:
            listed = await uow.experiments.page(filters, after, size + 1)
        kept, next_token = self._tokens.page(listed, size, lambda item: item.cursor, filters)
        return Page([item.item for item in kept], next_token)

    async def assign(self, organization: str, experiment_id: str, session_id: str) -> Assignment:
        """The session's variant: the stored one, or a new assignment by the session's bucket."""
        async with self._units.transaction(owner(organization)) as uow:
            document = await _load(uow, experiment_id)
            existing = await uow.experiments.assignment(experiment_id, session_id)
            if existing is not None:
                return existing
            variants = _variants(document)
            chosen = variant_for_new_session(variants, _stopped(document), ExperimentState(document["state"]),
                                             document.get("winner_variant", ""), bucket(experiment_id, session_id))
            persona = next(v.persona for v in variants if v.variant_id == chosen)
            await uow.experiments.assign(experiment_id, session_id, chosen, persona)
            stored = await uow.experiments.assignment(experiment_id, session_id)
            await uow.commit()
        assert stored is not None
        return stored

    async def session_variant(self, organization: str, session_id: str, persona: str) -> SessionVariant | None:
        """The variant of ``persona`` the session was assigned, in any experiment of the organization, whatever
        has become of the experiment since (a session plays the variant it started with); None for none."""
        async with self._units.read(organization) as uow:
            for experiment_id in await uow.experiments.experiments_of_session(session_id):
                assignment = await uow.experiments.assignment(experiment_id, session_id)
                if assignment is None or assignment.persona != persona:
                    continue
                document = await _load(uow, experiment_id)
                variant = next(v for v in document["variants"] if v["variant_id"] == assignment.variant_id)
                if assignment.variant_id == document.get("winner_variant") and document.get("promoted_patches"):
                    return SessionVariant(document["name"], assignment.variant_id, [])  # now the persona's patches
                return SessionVariant(document["name"], assignment.variant_id, variant.get("modifications", []))
        return None

    async def record_outcome(self, experiment_id: str, session_id: str, say_meter_score: int | None,
                             audit_score: float | None, mutation: Mutation) -> Outcome:
        return await self._outcome(owner(mutation.caller.organization), experiment_id, session_id, say_meter_score,
                                   audit_score, mutation)

    async def _outcome(self, organization: str, experiment_id: str, session_id: str, say_meter_score: int | None,
                       audit_score: float | None, mutation: Mutation | None) -> Outcome:
        """The outcome recorded for ``organization``, once per request id of ``mutation`` if it has one."""
        async with self._units.transaction(organization) as uow:
            async def record() -> Outcome:
                return await self._record(uow, experiment_id, session_id, say_meter_score, audit_score)

            if mutation is not None and mutation.request_id:
                outcome = await run_idempotent(uow.requests, mutation, "RecordExperimentOutcome", record, Outcome)
            else:
                outcome = await record()
            await uow.commit()
        return outcome

    @staticmethod
    async def _record(uow: LearningUnitOfWork, experiment_id: str, session_id: str, say_meter_score: int | None,
                      audit_score: float | None) -> Outcome:
        """Keeps the values the session had not recorded yet; a new value of the metric is folded into a running
        experiment's statistics."""
        document = await _load(uow, experiment_id, lock=True)
        assignment = await uow.experiments.assignment(experiment_id, session_id)
        if assignment is None:
            raise FailedPrecondition(f"sessions/{session_id} has no variant in experiments/{experiment_id}; "
                                     "call AssignVariant first", reason="SESSION_NOT_ASSIGNED",
                                     metadata={"session": f"sessions/{session_id}"})
        running = document["state"] == ExperimentState.RUNNING.value
        before = await uow.experiments.recorded_scores(experiment_id, session_id)
        new_say = say_meter_score is not None and (before is None or before.say_meter_score is None)
        new_audit = audit_score is not None and (before is None or before.audit_score is None)
        if not (new_say or new_audit):
            return Outcome(document, duplicate=True)
        await uow.experiments.record_scores(experiment_id, session_id, say_meter_score, audit_score, running)
        value = _metric_value(document, say_meter_score if new_say else None, audit_score if new_audit else None)
        if running and value is not None:
            document = _fold(document, assignment.variant_id, value)
            if document["state"] == ExperimentState.PROMOTED.value:
                document = await _promote(uow, document)
            await uow.experiments.save(document)
        return Outcome(document, duplicate=False)

    async def record_audit_outcomes(self, organization: str, session_id: str, overall_score: float,
                                    final_say_meter: int | None = None) -> int:
        """An audit of an assigned session (with the final Say Meter score the analysis service sent along) is that
        session's outcome in each of the organization's experiments; returns how many experiments took it (a value
        already recorded is kept)."""
        async with self._units.read(organization) as uow:
            experiment_ids = await uow.experiments.experiments_of_session(session_id)
        taken = 0
        for experiment_id in experiment_ids:
            outcome = await self._outcome(organization, experiment_id, session_id, final_say_meter, overall_score,
                                          None)
            taken += not outcome.duplicate
        return taken

    async def stop(self, experiment_id: str, etag: str, reason: str, mutation: Mutation) -> Document:
        async with self._units.transaction(mutation.caller.organization) as uow:
            async def stop() -> _Document:
                document = await _load(uow, experiment_id, lock=True)
                if etag and etag != document["etag"]:
                    raise EtagMismatch(document["name"], etag, document["etag"])
                if document["state"] == ExperimentState.STOPPED.value:
                    return _Document(document)
                if document["state"] == ExperimentState.PROMOTED.value:
                    raise FailedPrecondition(f"{document['name']} already ended with a promoted winner",
                                             reason="EXPERIMENT_ENDED",
                                             metadata={"winner": document["winner_variant"]})
                traffic = traffic_for_state(_variants(document), _stopped(document), ExperimentState.STOPPED)
                results = [{**r, "current_traffic_bps": traffic[r["variant_id"]]}
                           for r in document.get("results", [])]
                stopped = _touched({**document, "state": ExperimentState.STOPPED.value, "results": results,
                                    "stop_reason": reason or "stopped by an operator", "end_time": _now()})
                await uow.experiments.save(stopped)
                return _Document(stopped)

            result = await run_idempotent(uow.requests, mutation, "StopExperiment", stop, _Document)
            await uow.commit()
        return result.document
