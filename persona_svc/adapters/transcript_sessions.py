"""The transcript service's sessions as persona memory sees them: who a session's candidate is (for a rendering that
names the session alone), and forgetting a candidate's link when its memory is erased."""

from __future__ import annotations

import contextlib

import grpc
from cachetools import TTLCache
from sparring.transcript.v1 import transcript_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from svckit.cache import CACHE_LOOKUPS
from svckit.errors import Unavailable
from svckit.transport import ServiceLink

# A session's candidate changes only when the candidate is erased: this replica forgets at once, the others within
# this many seconds.
CANDIDATE_SECONDS = 60.0


class TranscriptSessions:
    def __init__(self, link: ServiceLink, timeout_seconds: float, max_sessions: int = 10_000) -> None:
        self._link = link
        self._stub = transcript_service_pb2_grpc.TranscriptServiceStub(link.channel)
        self._timeout = timeout_seconds
        self._candidates: TTLCache[tuple[str, str], str] = TTLCache(max_sessions, CANDIDATE_SECONDS)
        self._hit = CACHE_LOOKUPS.labels("session_candidates", "hit")
        self._miss = CACHE_LOOKUPS.labels("session_candidates", "miss")

    async def candidate_of(self, organization: str, session_id: str) -> str:
        key = (organization, session_id)
        candidate = self._candidates.get(key)
        if candidate is not None:
            self._hit.inc()
            return candidate
        self._miss.inc()
        try:
            reply = await self._stub.GetSession(pb.GetSessionRequest(name=f"sessions/{session_id}"),
                                                **self._link.options(self._timeout, organization))
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:  # not (yet) one of the organization's: not kept
                return ""
            raise Unavailable(f"the transcript service could not be read ({error.code().name}: "
                              f"{error.details()})", reason="TRANSCRIPT_SERVICE_UNAVAILABLE") from error
        candidate = reply.session.candidate.removeprefix("candidates/")
        with contextlib.suppress(ValueError):  # a cache of no entries (PERSONA_CACHE_ENTRIES=0) keeps none
            self._candidates[key] = candidate
        return candidate

    async def forget_candidate(self, organization: str, candidate_id: str) -> int:
        try:
            reply = await self._stub.ForgetCandidate(
                pb.ForgetCandidateRequest(candidate=f"candidates/{candidate_id}"),
                **self._link.options(self._timeout, organization))
        except grpc.aio.AioRpcError as error:
            raise Unavailable(f"the transcript service did not forget the candidate ({error.code().name}); nothing "
                              "was erased, try again", reason="TRANSCRIPT_SERVICE_UNAVAILABLE") from error
        for key in [key for key, candidate in self._candidates.items()
                    if key[0] == organization and candidate == candidate_id]:
            del self._candidates[key]
        return reply.sessions_unlinked

    async def close(self) -> None:
        await self._link.close()
