"""Who interviews a session, as the transcript service says, kept in a bounded cache: a session's interviewer
never changes, so a known answer stays right. Only found sessions are kept; a session not found (yet) is asked
for again."""

from __future__ import annotations

from collections import OrderedDict

from prometheus_client import Counter

from analysis_svc.adapters.transcript_reader import TranscriptReader

SESSION_LOOKUPS = Counter("sparring_analysis_session_lookups_total",
                          "Reads of a session's interviewer, by whether the cache held it (hit) or the transcript "
                          "service was asked (miss).", ("result",))


class SessionDirectory:
    def __init__(self, transcripts: TranscriptReader, max_sessions: int) -> None:
        self._transcripts = transcripts
        self._max = max_sessions
        self._interviewers: OrderedDict[tuple[str, str], str] = OrderedDict()

    async def interviewer(self, organization: str, session_id: str) -> str:
        key = (organization, session_id)
        if key in self._interviewers:
            SESSION_LOOKUPS.labels("hit").inc()
            self._interviewers.move_to_end(key)
            return self._interviewers[key]
        SESSION_LOOKUPS.labels("miss").inc()
        interviewer = (await self._transcripts.session(organization, session_id)).interviewer
        self._interviewers[key] = interviewer
        if len(self._interviewers) > self._max:
            self._interviewers.popitem(last=False)
        return interviewer
