"""The field paths of strings that are not valid UTF-8, found in random requests of the services' own types (and in
google.protobuf.Struct for maps and deep nesting, Any for a bytes field): exactly the poisoned strings are named,
bytes fields never, and what is readable of the request is the request with those strings decoded with replacement
characters."""

from __future__ import annotations

import json

import pytest
from google.protobuf import any_pb2, struct_pb2, text_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st
from sparring.learning.v1 import learning_service_pb2 as learning_pb
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.transcript.v1 import transcript_service_pb2 as transcript_pb

from svckit.decoding import NOT_UTF8, undecodable

BAD_PREFIXES = (b"\xff\xfe", b"\xed\xa0\x80", b"\xc0\xaf", b"\xe2\x82")  # plus an overlong slash and a cut-off euro
TEXT = st.text(st.characters(exclude_categories=("Cs", "Co")), max_size=8)  # no private-use marker by chance
MAX_DEPTH = 3


class Poisoner:
    """Builds random messages in which some strings hold a private-use marker, later swapped for invalid bytes."""

    def __init__(self, data: st.DataObject) -> None:
        self.draw = data.draw
        self.poisoned: dict[str, tuple[str, bytes]] = {}  # marker -> (path, the invalid bytes of its length)

    def text(self, path: str) -> str:
        if not self.draw(st.booleans()):
            return self.draw(TEXT)
        index = len(self.poisoned)
        marker = chr(0xF0000 + index) * 2  # 8 bytes of UTF-8
        prefix = self.draw(st.sampled_from(BAD_PREFIXES))
        self.poisoned[marker] = (path, prefix + str(index).zfill(8 - len(prefix)).encode())
        return self.draw(TEXT) + marker

    def fill(self, message: Message, prefix: str = "", depth: int = 0) -> Message:
        for field in message.DESCRIPTOR.fields:
            oneof = field.containing_oneof
            if (oneof is not None and message.WhichOneof(oneof.name)) or not self.draw(st.booleans()):
                continue
            path = prefix + field.name
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                if depth < MAX_DEPTH:
                    self._fill_map(message, field, path, depth)
            elif field.is_repeated:
                values = getattr(message, field.name)
                for index in range(self.draw(st.integers(0, 3))):
                    if field.message_type is None:
                        values.append(self._scalar(field, f"{path}[{index}]"))
                    elif depth < MAX_DEPTH:
                        self.fill(values.add(), f"{path}[{index}].", depth + 1)
            elif field.message_type is not None:
                if depth < MAX_DEPTH:
                    self.fill(getattr(message, field.name), path + ".", depth + 1)
                    getattr(message, field.name).SetInParent()
            else:
                setattr(message, field.name, self._scalar(field, path))
        return message

    def _fill_map(self, message: Message, field: FieldDescriptor, path: str, depth: int) -> None:
        entries = getattr(message, field.name)
        value_field = field.message_type.fields_by_name["value"]
        for index in range(self.draw(st.integers(0, 3))):
            markers_before = len(self.poisoned)
            key = self.text("") + str(index)  # the index keeps keys apart
            entry_path = f"{path}[{json.dumps(self.readable(key), ensure_ascii=False)}]"
            if len(self.poisoned) > markers_before:  # a key is named by the entry it opens
                marker = list(self.poisoned)[-1]
                self.poisoned[marker] = (entry_path, self.poisoned[marker][1])
            if value_field.message_type is None:
                entries[key] = self._scalar(value_field, entry_path)
            else:
                self.fill(entries[key], entry_path + ".", depth + 1)

    def readable(self, text: str) -> str:
        for marker, (_, bad) in self.poisoned.items():
            text = text.replace(marker, bad.decode("utf-8", "replace"))
        return text

    def _scalar(self, field: FieldDescriptor, path: str):
        kind = field.type
        if kind == FieldDescriptor.TYPE_STRING:
            return self.text(path)
        if kind == FieldDescriptor.TYPE_BYTES:
            return self.draw(st.binary(max_size=8))  # invalid UTF-8 allowed: bytes are not text
        if kind == FieldDescriptor.TYPE_BOOL:
            return self.draw(st.booleans())
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return self.draw(st.floats(-1e6, 1e6, width=32))
        if kind == FieldDescriptor.TYPE_ENUM:
            return self.draw(st.sampled_from([value.number for value in field.enum_type.values]))
        return self.draw(st.integers(0, 2**31 - 1))


def poisoned_bytes(message: Message, poisoner: Poisoner) -> bytes:
    data = message.SerializeToString()
    for marker, (_, bad) in poisoner.poisoned.items():
        assert data.count(marker.encode()) == 1
        data = data.replace(marker.encode(), bad)
    return data


@pytest.mark.parametrize("message_class", [
    persona_pb.CreatePersonaRequest, persona_pb.UpdatePersonaRequest, transcript_pb.StreamSessionRequest,
    learning_pb.RecordCorpusAuditRequest, struct_pb2.Struct, any_pb2.Any,
], ids=lambda cls: cls.DESCRIPTOR.name)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_every_invalid_string_is_named_by_its_path_and_nothing_else(message_class, data):
    poisoner = Poisoner(data)
    message = poisoner.fill(message_class())
    sent = poisoned_bytes(message, poisoner)
    if not poisoner.poisoned:
        assert message_class.FromString(sent) == message
        return

    error = undecodable(message_class, sent)

    assert error.reason == "INVALID_UTF8"
    assert sorted(v.field for v in error.violations) == sorted(path for path, _ in poisoner.poisoned.values())
    assert all(v.description == NOT_UTF8 for v in error.violations)
    expected = text_format.Parse(poisoner.readable(text_format.MessageToString(message, as_utf8=True)),
                                 message_class())
    assert error.readable == expected


@given(st.binary(max_size=40))
def test_bytes_that_do_not_parse_are_malformed_and_name_the_request(data):
    try:
        persona_pb.CreatePersonaRequest.FromString(data)
    except Exception:
        error = undecodable(persona_pb.CreatePersonaRequest, data)
        assert error.reason in ("INVALID_UTF8", "MALFORMED_MESSAGE")
        if error.reason == "MALFORMED_MESSAGE":
            assert [v.field for v in error.violations] == [""] and error.readable is None
