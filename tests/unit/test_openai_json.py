"""The shared openai client's reading of a reply without a network: a reply that carries no answer is a
bad_response, and an endpoint's Retry-After is read in seconds or as an HTTP date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from openai.types.chat import ChatCompletion
from openai.types.chat.chat_completion import Choice
from openai.types.chat.chat_completion_message import ChatCompletionMessage

from svckit.openai_json import BAD_RESPONSE, EngineFailure, content_of, retry_after


def _reply(choices: object) -> ChatCompletion:
    """A chat completion as the SDK builds one from a body it does not validate."""
    return ChatCompletion.model_construct(id="chatcmpl-1", object="chat.completion", created=0, model="m",
                                          choices=choices)


def _choice(content: object) -> Choice:
    return Choice.model_construct(index=0, finish_reason="stop",
                                  message=ChatCompletionMessage.model_construct(role="assistant", content=content))


def test_the_first_choices_text_is_the_answer():
    assert content_of(_reply([_choice('{"reply": "Fine."}'), _choice("{}")])) == '{"reply": "Fine."}'


@pytest.mark.parametrize("reply", [
    "<html><body>Service Unavailable</body></html>",  # what the SDK hands back for a body of another content type
    _reply([]),
    _reply(None),
    _reply("choices"),
    _reply([{"index": 0}]),
    _reply([Choice.model_construct(index=0, finish_reason="content_filter", message=None)]),
    _reply([_choice(None)]),
    _reply([_choice({"reply": "Fine."})]),
], ids=["not-a-completion", "no-choices", "null-choices", "text-choices", "raw-choice", "no-message", "no-content",
        "object-content"])
def test_a_reply_without_an_answer_is_a_bad_response(reply):
    with pytest.raises(EngineFailure) as caught:
        content_of(reply)
    assert caught.value.reason == BAD_RESPONSE


def test_retry_after_is_read_in_seconds_or_as_a_date():
    assert retry_after({"retry-after": "1.5"}) == 1.5
    assert retry_after({"retry-after": "-3"}) == 0
    in_a_minute = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert 55 <= retry_after({"retry-after": in_a_minute}) <= 60
    assert retry_after({"retry-after": format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True)}) == 0
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None
