"""TranscriptService over gRPC: requests to use cases, results to responses."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.transcript.v1 import transcript_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from svckit.blueprints import blueprint_name
from svckit.context import current_call
from svckit.errors import FieldViolation, InvalidArgument, Violations
from svckit.names import resource_id
from svckit.usecase import mutation_of
from transcript_svc.entrypoints import convert
from transcript_svc.entrypoints.stream import StreamSessionHandler
from transcript_svc.service_layer.transcripts import Transcripts
from transcript_svc.service_layer.voice_rounds import VoiceRounds


class TranscriptServicer(transcript_service_pb2_grpc.TranscriptServiceServicer):
    def __init__(self, transcripts: Transcripts, stream: StreamSessionHandler, voice_rounds: VoiceRounds) -> None:
        self._transcripts = transcripts
        self._stream = stream
        self._voice_rounds = voice_rounds

    def StreamSession(self, request_iterator: AsyncIterator[pb.StreamSessionRequest],
                      context: grpc.aio.ServicerContext) -> AsyncIterator[pb.StreamSessionResponse]:
        return self._stream(request_iterator, context)

    async def CreateSession(self, request: pb.CreateSessionRequest, context) -> pb.CreateSessionResponse:
        session = await self._transcripts.create_session(convert.session_draft(request.session), request.session_id,
                                                         mutation_of(request))
        return pb.CreateSessionResponse(session=convert.session_message(session))

    async def GetSession(self, request: pb.GetSessionRequest, context) -> pb.GetSessionResponse:
        session = await self._transcripts.get_session(current_call().principal, convert.session_id_of(request.name))
        return pb.GetSessionResponse(session=convert.session_message(session))

    async def ListSessions(self, request: pb.ListSessionsRequest, context) -> pb.ListSessionsResponse:
        violations = Violations()
        filters: dict = {
            "persona": resource_id(request.persona, "personas", "persona") and request.persona
            if request.persona else None,
            "scenario": resource_id(request.scenario, "scenarios", "scenario") and request.scenario
            if request.scenario else None,
            "state": convert.session_state_of(request.state),
            "blueprint": None,
            "start_from": None,
            "start_to": None,
        }
        if request.blueprint:
            if request.blueprint not in persona_pb.Blueprint.values():
                raise InvalidArgument(FieldViolation("blueprint", f"{request.blueprint} is not a known Blueprint"))
            filters["blueprint"] = blueprint_name(request.blueprint)
        if request.HasField("start_time_from"):
            filters["start_from"] = convert.time_of(request.start_time_from, "start_time_from", violations)
        if request.HasField("start_time_to"):
            filters["start_to"] = convert.time_of(request.start_time_to, "start_time_to", violations)
        violations.raise_if_any()
        page = await self._transcripts.list_sessions(current_call().principal, filters, request.page_size,
                                                     request.page_token)
        return pb.ListSessionsResponse(sessions=[convert.session_message(s) for s in page.items],
                                       next_page_token=page.next_page_token)

    async def EndSession(self, request: pb.EndSessionRequest, context) -> pb.EndSessionResponse:
        session = await self._transcripts.end_session(convert.session_id_of(request.name), request.etag,
                                                      request.reason, mutation_of(request))
        return pb.EndSessionResponse(session=convert.session_message(session))

    async def GetMessage(self, request: pb.GetMessageRequest, context) -> pb.GetMessageResponse:
        message = await self._transcripts.get_message(current_call().principal, *convert.message_ref(request.name))
        return pb.GetMessageResponse(message=convert.message_message(message))

    async def ListMessages(self, request: pb.ListMessagesRequest, context) -> pb.ListMessagesResponse:
        messages, token, last = await self._transcripts.list_messages(
            current_call().principal, convert.session_id_of(request.parent, "parent"), request.last_n,
            request.after_sequence, request.up_to_sequence, request.page_size, request.page_token)
        return pb.ListMessagesResponse(messages=[convert.message_message(m) for m in messages], next_page_token=token,
                                       last_durable_sequence=last)

    async def SendCommand(self, request: pb.SendCommandRequest, context) -> pb.SendCommandResponse:
        command = await self._transcripts.send_command(
            convert.session_id_of(request.parent, "parent"), convert.command_draft(request.command),
            request.command_id, mutation_of(request))
        return pb.SendCommandResponse(command=convert.command_message(command))

    async def GetCommand(self, request: pb.GetCommandRequest, context) -> pb.GetCommandResponse:
        command = await self._transcripts.get_command(current_call().principal, *convert.command_ref(request.name))
        return pb.GetCommandResponse(command=convert.command_message(command))

    async def ForgetCandidate(self, request: pb.ForgetCandidateRequest, context) -> pb.ForgetCandidateResponse:
        candidate = f"candidates/{resource_id(request.candidate, 'candidates', 'candidate')}"
        return pb.ForgetCandidateResponse(
            sessions_unlinked=await self._transcripts.forget_candidate(candidate, mutation_of(request)))

    async def ListCommands(self, request: pb.ListCommandsRequest, context) -> pb.ListCommandsResponse:
        page = await self._transcripts.list_commands(
            current_call().principal, convert.session_id_of(request.parent, "parent"),
            convert.command_state_of(request.state), convert.command_source_filter(request.source), request.page_size,
            request.page_token)
        return pb.ListCommandsResponse(commands=[convert.command_message(c) for c in page.items],
                                       next_page_token=page.next_page_token)

    async def StartVoiceRound(self, request: pb.StartVoiceRoundRequest, context) -> pb.StartVoiceRoundResponse:
        voice_round = await self._voice_rounds.start(convert.session_id_of(request.parent, "parent"),
                                                     request.provider, mutation_of(request))
        return pb.StartVoiceRoundResponse(voice_round=convert.voice_round_message(voice_round))

    async def GetVoiceRound(self, request: pb.GetVoiceRoundRequest, context) -> pb.GetVoiceRoundResponse:
        voice_round = await self._voice_rounds.get(current_call().principal, *convert.voice_round_ref(request.name))
        return pb.GetVoiceRoundResponse(voice_round=convert.voice_round_message(voice_round))

    async def ListVoiceRounds(self, request: pb.ListVoiceRoundsRequest, context) -> pb.ListVoiceRoundsResponse:
        page = await self._voice_rounds.list(current_call().principal, convert.session_id_of(request.parent, "parent"),
                                             request.page_size, request.page_token)
        return pb.ListVoiceRoundsResponse(voice_rounds=[convert.voice_round_message(r) for r in page.items],
                                          next_page_token=page.next_page_token)

    async def EndVoiceRound(self, request: pb.EndVoiceRoundRequest, context) -> pb.EndVoiceRoundResponse:
        voice_round = await self._voice_rounds.end(*convert.voice_round_ref(request.name), mutation_of(request))
        return pb.EndVoiceRoundResponse(voice_round=convert.voice_round_message(voice_round))
