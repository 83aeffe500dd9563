"""The learning service's experiments as a new session sees them: the variant of the running experiment its
persona is in, within one deadline for both calls; a learning service that does not answer leaves the session on
the control (no variant), counted."""

from __future__ import annotations

import asyncio
import logging

import grpc
from prometheus_client import Counter
from sparring.learning.v1 import learning_service_pb2 as pb
from sparring.learning.v1 import learning_service_pb2_grpc

from svckit.transport import ServiceLink
from transcript_svc.domain.model import ExperimentVariant

log = logging.getLogger("transcript.experiments")

ASSIGNMENTS = Counter("sparring_transcript_experiment_assignments_total",
                      "New sessions by what the learning service's experiments gave them: assigned (a variant), "
                      "none (persona under no running experiment), unavailable (no answer in time: control).",
                      ["outcome"])


class ExperimentClient:
    def __init__(self, link: ServiceLink, timeout_seconds: float) -> None:
        self._link = link
        self._stub = learning_service_pb2_grpc.LearningServiceStub(link.channel)
        self._timeout = timeout_seconds

    async def variant_for(self, organization: str, persona: str, session_id: str) -> ExperimentVariant | None:
        """The variant of the persona's running experiment the session gets; None when there is none or the
        learning service did not answer within the deadline."""
        try:
            async with asyncio.timeout(self._timeout):
                variant = await self._assign(organization, persona, session_id)
        except (grpc.aio.AioRpcError, TimeoutError) as error:
            ASSIGNMENTS.labels("unavailable").inc()
            log.warning("no experiment variant for sessions/%s: the learning service did not answer (%s)",
                        session_id, error)
            return None
        ASSIGNMENTS.labels("assigned" if variant else "none").inc()
        return variant

    async def _assign(self, organization: str, persona: str, session_id: str) -> ExperimentVariant | None:
        options = self._link.options(self._timeout, organization)
        listed = await self._stub.ListExperiments(pb.ListExperimentsRequest(
            page_size=1, persona=persona, state=pb.EXPERIMENT_STATE_RUNNING), **options)
        if not listed.experiments:
            return None
        experiment = listed.experiments[0].name
        reply = await self._stub.AssignVariant(pb.AssignVariantRequest(
            experiment=experiment, session=f"sessions/{session_id}"), **options)
        return ExperimentVariant(experiment, reply.assignment.variant_id)

    async def close(self) -> None:
        await self._link.close()

