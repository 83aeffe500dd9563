"""Requests whose bytes do not decode, told by field path.

protobuf refuses a message holding a string field that is not valid UTF-8 (bytes ``ff fe``, or ``ed a0 80``, a
lone surrogate a JavaScript client encodes from an ordinary string) with a DecodeError that names no field. To
name it, the bytes are read again as a *lenient twin* of the request type: the same messages built in a pool of
their own with every string field declared ``bytes``, which has the same wire format and no UTF-8 check. Walking
the twin finds every string that does not decode, by its path in the request (``persona.display_name``,
``domains[2]``), and gives what can be read of the request with those strings decoded with replacement
characters. This runs only for a request that failed to decode; each twin is built once.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor
from google.protobuf.message import DecodeError, Message

from svckit.errors import FieldViolation, InvalidArgument

NOT_UTF8 = "is not valid UTF-8"


class UndecodableRequest(InvalidArgument):
    """A request whose bytes did not decode. ``readable`` is the request with its invalid strings decoded with
    replacement characters (U+FFFD), for a handler that names the request in its answer; None when the bytes are
    not a message of the type at all."""

    def __init__(self, violations: list[FieldViolation], reason: str, readable: Message | None) -> None:
        super().__init__(violations, reason)
        self.readable = readable


@dataclass(frozen=True, slots=True)
class _Invalid:
    """One string that does not decode: its path, and how to put its replacement in the twin."""

    path: str
    twin_owner: Message
    field_name: str
    index: int | None


def undecodable(message_class: type[Message], data: bytes) -> UndecodableRequest:
    """Why ``data``, which ``message_class`` failed to decode, is not a valid request."""
    twin = _twin_class(message_class.DESCRIPTOR)()
    try:
        twin.ParseFromString(data)
        invalid = list(_invalid_strings(twin, cast(Descriptor, message_class.DESCRIPTOR), ""))
    except DecodeError:
        invalid = []
    if not invalid:  # not a message of this type at all: no field to name, the violation is the request's
        return UndecodableRequest(
            [FieldViolation("", f"is not a {message_class.DESCRIPTOR.full_name} in the protobuf wire format")],
            reason="MALFORMED_MESSAGE", readable=None)
    for item in invalid:
        _replace(item)
    readable = message_class.FromString(twin.SerializeToString())
    return UndecodableRequest([FieldViolation(item.path, NOT_UTF8) for item in invalid],
                              reason="INVALID_UTF8", readable=readable)


def _invalid_strings(twin: Message, descriptor: Descriptor, prefix: str) -> Iterator[_Invalid]:
    """Walks ``twin`` against the real ``descriptor``, which says which of the twin's bytes fields are strings."""
    for twin_field, value in twin.ListFields():
        field = descriptor.fields_by_number[twin_field.number]
        path = prefix + field.name
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field, value_field = (field.message_type.fields_by_name[name] for name in ("key", "value"))
            for entry in value:
                key = entry.key.decode("utf-8", "replace") if isinstance(entry.key, bytes) else entry.key
                entry_path = f"{path}[{json.dumps(key, ensure_ascii=False)}]"
                if _is_string(key_field) and not _decodes(entry.key):
                    yield _Invalid(entry_path, entry, "key", None)
                yield from _invalid_in(entry, value_field, entry.value, entry_path, None)
        elif field.is_repeated:
            for index, item in enumerate(value):
                yield from _invalid_in(twin, field, item, f"{path}[{index}]", index)
        else:
            yield from _invalid_in(twin, field, value, path, None)


def _invalid_in(owner: Message, field: FieldDescriptor, value, path: str, index: int | None) -> Iterator[_Invalid]:
    if field.message_type is not None:
        yield from _invalid_strings(value, field.message_type, path + ".")
    elif _is_string(field) and not _decodes(value):
        yield _Invalid(path, owner, field.name, index)


def _is_string(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_STRING


def _decodes(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _replace(item: _Invalid) -> None:
    if item.index is None:
        value = getattr(item.twin_owner, item.field_name)
        setattr(item.twin_owner, item.field_name, _readable(value))
    else:
        values = getattr(item.twin_owner, item.field_name)
        values[item.index] = _readable(values[item.index])


def _readable(value: bytes) -> bytes:
    return value.decode("utf-8", "replace").encode()


@functools.cache
def _twin_class(descriptor: Descriptor) -> type[Message]:
    """The lenient twin of ``descriptor``'s message type (see the module docstring)."""
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(file: FileDescriptor) -> None:
        if file.name in added:
            return
        added.add(file.name)
        for dependency in file.dependencies:
            add(dependency)
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        for message in _messages_of(proto.message_type):
            # A map key may not be bytes: entries become plain messages, which they are on the wire.
            message.options.ClearField("map_entry")
            for field in message.field:
                if field.type == descriptor_pb2.FieldDescriptorProto.TYPE_STRING:
                    field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
        pool.Add(proto)

    add(descriptor.file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(descriptor.full_name))


def _messages_of(messages) -> Iterator[descriptor_pb2.DescriptorProto]:
    for message in messages:
        yield message
        yield from _messages_of(message.nested_type)
