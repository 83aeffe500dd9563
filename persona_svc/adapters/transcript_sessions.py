"""The transcript service's sessions as persona memory sees them: the persona playing a session, its candidate and
scenario (for a rendering that names the session alone), and forgetting a candidate's link when its memory is
erased."""

from __future__ import annotations

import contextlib

import grpc
from cachetools import TTLCache
from sparring.transcript.v1 import transcript_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from persona_svc.domain.memory import PlayedSession
from svckit.cache import CACHE_LOOKUPS
from svckit.errors import NotFound, Unavailable
from svckit.transport import ServiceLink

# A session's candidate changes only when the candidate is erased: this replica forgets at once, the others within
# this many seconds.
CANDIDATE_SECONDS = 60.0
# How long a rendering refused for want of the transcript service is told to wait before it tries again.
RETRY_SECONDS = 1.0


class TranscriptSessions:
    def __init__(self, link: ServiceLink, timeout_seconds: float, max_sessions: int = 10_000) -> None:
        self._link = link
        self._stub = transcript_service_pb2_grpc.TranscriptServiceStub(link.channel)
        self._timeout = timeout_seconds
        self._candidates: TTLCache[tuple[str, str], str] = TTLCache(max_sessions, CANDIDATE_SECONDS)
        self._hit = CACHE_LOOKUPS.labels("session_candidates", "hit")
        self._miss = CACHE_LOOKUPS.labels("session_candidates", "miss")

    async def played(self, organization: str, session_id: str) -> PlayedSession:
        session = await self._session(organization, session_id)
        if session is None:
            raise NotFound(f"sessions/{session_id}", reason="SESSION_NOT_FOUND")
        return PlayedSession((session.current_persona or session.persona).removeprefix("personas/"),
                             self._keep_candidate((organization, session_id), session),
                             session.scenario.removeprefix("scenarios/"))

    async def candidate_of(self, organization: str, session_id: str) -> str:
        key = (organization, session_id)
        candidate = self._candidates.get(key)
        if candidate is not None:
            self._hit.inc()
            return candidate
        self._miss.inc()
        session = await self._session(organization, session_id)
        if session is None:  # not (yet) one of the organization's: not kept
            return ""
        return self._keep_candidate(key, session)

    async def _session(self, organization: str, session_id: str) -> pb.Session | None:
        """The session as the transcript service tells it; None when it is no session of ``organization``."""
        try:
            reply = await self._stub.GetSession(pb.GetSessionRequest(name=f"sessions/{session_id}"),
                                                **self._link.options(self._timeout, organization))
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise Unavailable(f"the transcript service could not be read ({error.code().name}: "
                              f"{error.details()})", reason="TRANSCRIPT_SERVICE_UNAVAILABLE",
                              retry_after=RETRY_SECONDS) from error
        return reply.session

    def _keep_candidate(self, key: tuple[str, str], session: pb.Session) -> str:
        candidate = session.candidate.removeprefix("candidates/")
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
