"""Domain errors and their google.rpc.Status form."""

from __future__ import annotations

import asyncpg
import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import exc as sa_exc

from svckit import errors
from svckit.errors import (
    AlreadyExists,
    EtagMismatch,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Violations,
)
from svckit.interceptors import domain_error_of
from svckit.statuses import status_code_of, to_status_proto

DOMAIN = "persona.sparring.dev"


def unpack(status):
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    bad_request = None
    if len(status.details) > 1:
        bad_request = error_details_pb2.BadRequest()
        assert status.details[1].Unpack(bad_request)
    return info, bad_request


def test_invalid_argument_carries_error_info_and_bad_request():
    error = InvalidArgument([
        FieldViolation("persona.difficulty", "must be between 1 and 5 (got 0)"),
        FieldViolation("persona.display_name", "is required and must not be blank"),
    ])
    status = to_status_proto(error, DOMAIN)
    assert status.code == code_pb2.INVALID_ARGUMENT
    assert "persona.difficulty: must be between 1 and 5 (got 0)" in status.message
    assert "persona.display_name" in status.message
    info, bad_request = unpack(status)
    assert (info.reason, info.domain) == ("INVALID_ARGUMENT", DOMAIN)
    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("persona.difficulty", "must be between 1 and 5 (got 0)"),
        ("persona.display_name", "is required and must not be blank"),
    ]
    assert len(status.details) == 2


def test_invalid_argument_takes_one_violation_and_a_reason():
    error = InvalidArgument(FieldViolation("persona.archetype", "archetypes/x does not exist"),
                            reason="UNKNOWN_ARCHETYPE")
    info, bad_request = unpack(to_status_proto(error, DOMAIN))
    assert info.reason == "UNKNOWN_ARCHETYPE"
    assert [v.field for v in bad_request.field_violations] == ["persona.archetype"]


def test_not_found_carries_only_error_info():
    status = to_status_proto(NotFound("personas/nope"), DOMAIN)
    assert status.code == code_pb2.NOT_FOUND
    assert status.message == "personas/nope not found"
    info, bad_request = unpack(status)
    assert bad_request is None
    assert info.reason == "RESOURCE_NOT_FOUND"
    assert dict(info.metadata) == {"resource": "personas/nope"}


def test_etag_mismatch_is_aborted_with_the_current_etag():
    status = to_status_proto(EtagMismatch("personas/p", '"1"', '"2"'), DOMAIN)
    assert status.code == code_pb2.ABORTED
    info, _ = unpack(status)
    assert info.reason == "ETAG_MISMATCH"
    assert dict(info.metadata) == {"resource": "personas/p", "current_etag": '"2"'}
    assert "read it again" in status.message


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (AlreadyExists("slug taken", reason="SLUG_TAKEN"), code_pb2.ALREADY_EXISTS),
        (PermissionDenied("needs admin", reason="PERSONA_PROTECTED"), code_pb2.PERMISSION_DENIED),
        (errors.FailedPrecondition("deleted", reason="PERSONA_DELETED"), code_pb2.FAILED_PRECONDITION),
        (errors.Unavailable("db down", reason="DATABASE_UNAVAILABLE"), code_pb2.UNAVAILABLE),
        (errors.DeadlineExceeded("slow", reason="DATABASE_TIMEOUT"), code_pb2.DEADLINE_EXCEEDED),
        (errors.Aborted("retry", reason="CONCURRENT_CHANGE"), code_pb2.ABORTED),
        (errors.Unimplemented("later", reason="NOT_IMPLEMENTED"), code_pb2.UNIMPLEMENTED),
    ],
)
def test_each_error_class_has_its_code_and_reason(error, code):
    status = to_status_proto(error, DOMAIN)
    assert status.code == code
    assert status.message == error.message
    info, bad_request = unpack(status)
    assert info.reason == error.reason and info.domain == DOMAIN
    assert bad_request is None


def test_a_refusal_worth_retrying_says_how_long_to_wait():
    error = errors.ResourceExhausted("full", reason="TOO_MANY_STREAMS", retry_after=1.5)
    status = to_status_proto(error, DOMAIN)
    assert status.code == code_pb2.RESOURCE_EXHAUSTED
    info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
    assert [status.details[0].Unpack(info), status.details[1].Unpack(retry)] == [True, True]
    assert info.reason == "TOO_MANY_STREAMS"
    assert retry.retry_delay.ToTimedelta().total_seconds() == 1.5


def test_status_converts_to_grpc_trailers():
    status = to_status_proto(InvalidArgument(FieldViolation("page_size", "must not be negative")), DOMAIN)
    grpc_status = rpc_status.to_status(status)
    assert grpc_status.code == grpc.StatusCode.INVALID_ARGUMENT
    assert grpc_status.details == status.message
    (key, value), = grpc_status.trailing_metadata
    assert key == "grpc-status-details-bin"
    assert value == status.SerializeToString()


def test_violations_collect_and_raise_once():
    collected = Violations()
    assert not collected
    collected.raise_if_any()  # nothing to raise
    collected.require(True, "a", "fine")
    assert not collected
    collected.require(False, "b", "bad")
    collected.add("c", "worse")
    assert collected
    with pytest.raises(InvalidArgument) as raised:
        collected.raise_if_any()
    assert [v.field for v in raised.value.violations] == ["b", "c"]


@pytest.mark.parametrize(
    ("cause", "code"),
    [
        (asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
         grpc.StatusCode.DEADLINE_EXCEEDED),
        (asyncpg.exceptions.SerializationError("could not serialize"), grpc.StatusCode.ABORTED),
        (asyncpg.exceptions.DeadlockDetectedError("deadlock"), grpc.StatusCode.ABORTED),
        (ConnectionRefusedError("refused"), grpc.StatusCode.UNAVAILABLE),
        (asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
         grpc.StatusCode.UNAVAILABLE),
        (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"), grpc.StatusCode.UNAVAILABLE),
        (asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"), grpc.StatusCode.UNAVAILABLE),
        (asyncpg.exceptions.InternalClientError("cannot switch to state 15; another operation is in progress"),
         grpc.StatusCode.UNAVAILABLE),
        (TimeoutError(), grpc.StatusCode.UNAVAILABLE),
        (sa_exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached, connection timed out"),
         grpc.StatusCode.UNAVAILABLE),
    ],
)
def test_infrastructure_failures_get_a_retryable_status(cause, code):
    classified = domain_error_of(cause)
    assert classified is not None and status_code_of(classified) == code


def test_domain_errors_pass_through_and_bugs_are_not_disguised():
    error = NotFound("personas/x")
    assert domain_error_of(error) is error
    assert domain_error_of(KeyError("bug")) is None
