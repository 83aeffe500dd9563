"""Audits handed to the learning service, which keeps the corpus the personas learn from."""

from __future__ import annotations

from google.protobuf import json_format
from sparring.analysis.v1 import analysis_service_pb2 as analysis_pb
from sparring.learning.v1 import learning_service_pb2 as pb
from sparring.learning.v1 import learning_service_pb2_grpc

from svckit.transport import ServiceLink


def learning_audit(audit: analysis_pb.PersonaAudit, final_say_meter: int | None) -> pb.CorpusAudit:
    """The learning service's copy: same field names, the analysis audit as its source, with the session's final
    Say Meter score when there is one."""
    fields = json_format.MessageToDict(audit, preserving_proto_field_name=True)
    copy = json_format.ParseDict(fields, pb.CorpusAudit(), ignore_unknown_fields=True)
    copy.name = ""
    copy.source_audit = audit.name
    copy.audit_time.CopyFrom(audit.create_time)
    if final_say_meter is not None:
        copy.final_say_meter_score = final_say_meter
    return copy


class LearningAudits:
    def __init__(self, link: ServiceLink, timeout_seconds: float) -> None:
        self._link = link
        self._stub = learning_service_pb2_grpc.LearningServiceStub(link.channel)
        self._timeout = timeout_seconds

    async def record(self, organization: str, audit: analysis_pb.PersonaAudit, final_say_meter: int | None) -> None:
        """Hands over an audit of ``organization``, on its behalf. Raises grpc.aio.AioRpcError when the learning
        service refuses or cannot be reached."""
        await self._stub.RecordCorpusAudit(pb.RecordCorpusAuditRequest(audit=learning_audit(audit, final_say_meter)),
                                            **self._link.options(self._timeout, organization))

    async def close(self) -> None:
        await self._link.close()
