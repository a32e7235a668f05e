"""The OTLP log drain's request body, protobuf, decoded into its OTLP/JSON form.

Supabase's OTLP drain (Logflare's ``otlp_adaptor``) posts an ``ExportLogsServiceRequest`` in
protobuf to an endpoint the user names, gzipped by default; a receiver of their own saves the
bodies. The package reads OTLP/JSON already (:func:`analysis.ingest.drains.otlp_rows`), so
the binary request is decoded here into the same document (camelCase names, 64-bit integers as
decimal text, ids as hex) and read by the same code. Only the wire format is needed, not the
protobuf runtime: the few messages of the OTLP logs schema are listed below by field number
(opentelemetry-proto ``collector/logs/v1``, ``logs/v1``, ``common/v1``, ``resource/v1``);
fields not listed are skipped, as any protobuf reader does with fields it does not know.
"""

from __future__ import annotations

import base64
import struct
from pathlib import Path

from analysis.exceptions import IngestError

#: Names a saved protobuf body may have (``.gz`` when the drain's gzip was kept).
SUFFIXES = (".pb", ".pb.gz", ".binpb", ".binpb.gz", ".protobuf", ".protobuf.gz")

#: message -> field number -> (OTLP/JSON name, type, repeated). The older
#: ``InstrumentationLibraryLogs`` has the layout of ``ScopeLogs`` under the same number.
_MESSAGES: dict[str, dict[int, tuple[str, str, bool]]] = {
    "ExportLogsServiceRequest": {1: ("resourceLogs", "ResourceLogs", True)},
    "ResourceLogs": {
        1: ("resource", "Resource", False),
        2: ("scopeLogs", "ScopeLogs", True),
        3: ("schemaUrl", "string", False),
    },
    "Resource": {
        1: ("attributes", "KeyValue", True),
        2: ("droppedAttributesCount", "uint", False),
    },
    "ScopeLogs": {
        1: ("scope", "InstrumentationScope", False),
        2: ("logRecords", "LogRecord", True),
        3: ("schemaUrl", "string", False),
    },
    "InstrumentationScope": {
        1: ("name", "string", False),
        2: ("version", "string", False),
        3: ("attributes", "KeyValue", True),
        4: ("droppedAttributesCount", "uint", False),
    },
    "LogRecord": {
        1: ("timeUnixNano", "fixed64", False),
        11: ("observedTimeUnixNano", "fixed64", False),
        2: ("severityNumber", "uint", False),
        3: ("severityText", "string", False),
        5: ("body", "AnyValue", False),
        6: ("attributes", "KeyValue", True),
        7: ("droppedAttributesCount", "uint", False),
        8: ("flags", "fixed32", False),
        9: ("traceId", "hex", False),
        10: ("spanId", "hex", False),
        12: ("eventName", "string", False),
    },
    "KeyValue": {1: ("key", "string", False), 2: ("value", "AnyValue", False)},
    "AnyValue": {
        1: ("stringValue", "string", False),
        2: ("boolValue", "bool", False),
        3: ("intValue", "int64", False),
        4: ("doubleValue", "double", False),
        5: ("arrayValue", "ArrayValue", False),
        6: ("kvlistValue", "KeyValueList", False),
        7: ("bytesValue", "bytes", False),
    },
    "ArrayValue": {1: ("values", "AnyValue", True)},
    "KeyValueList": {1: ("values", "KeyValue", True)},
}
#: The wire type each field type is written with (0 varint, 1 64-bit, 2 length, 5 32-bit).
_WIRE = {"uint": 0, "bool": 0, "int64": 0, "fixed64": 1, "double": 1, "fixed32": 5}
#: Deepest nesting of values accepted (an array in a list in a ...): far beyond any event.
MAX_DEPTH = 64


class _Malformed(Exception):
    """Where and why the bytes are not the message expected (turned into an IngestError)."""


def is_otlp_proto_file(path: Path) -> bool:
    """Tell a saved OTLP protobuf body by its name."""
    return path.name.lower().endswith(SUFFIXES)


def decode_logs_request(data: bytes, path: Path) -> dict:
    """Return an ``ExportLogsServiceRequest`` as the OTLP/JSON document of the same request.

    Raises
    ------
    IngestError
        The bytes are not such a request (truncated, a wrong wire type, nested too deep),
        naming the byte offset and the message being read.
    """
    try:
        return _message(memoryview(data), 0, len(data), "ExportLogsServiceRequest", 0)
    except _Malformed as exc:
        raise IngestError(
            path,
            "bad OTLP protobuf",
            expected="an OTLP ExportLogsServiceRequest (the OTLP log drain's request body)",
            found=str(exc),
        ) from None


def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    """Return (value, next position) of the varint at ``pos``."""
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _Malformed(f"byte {pos}: a varint runs past its field")
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7


def _message(buf: memoryview, pos: int, end: int, name: str, depth: int) -> dict:
    """Decode the message ``name`` held in ``buf[pos:end]``."""
    if depth > MAX_DEPTH:
        raise _Malformed(f"byte {pos}: values nested deeper than {MAX_DEPTH}")
    fields, out = _MESSAGES[name], {}
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        spec = fields.get(number)
        if wire == 0:
            raw, pos = _varint(buf, pos, end)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > end:
                raise _Malformed(f"byte {pos}: {name} field {number} runs past the message")
            raw, pos = bytes(buf[pos : pos + size]), pos + size
        elif wire == 2:
            size, pos = _varint(buf, pos, end)
            if pos + size > end:
                raise _Malformed(f"byte {pos}: {name} field {number} runs past the message")
            raw, pos = (pos, pos + size), pos + size
        else:
            raise _Malformed(f"byte {pos}: wire type {wire} in {name} (groups are not OTLP)")
        if spec is None:
            continue  # a field this schema does not list: skipped, as protobuf does
        label, kind, repeated = spec
        if _WIRE.get(kind, 2) != wire:
            raise _Malformed(f"byte {pos}: {name}.{label} has wire type {wire}")
        value = _value(buf, raw, kind, depth)
        if repeated:
            out.setdefault(label, []).append(value)
        else:
            out[label] = value
    if pos != end:
        raise _Malformed(f"byte {end}: {name} ends inside a field")
    for label, _, repeated in fields.values():
        if repeated:
            # Protobuf writes no empty list; OTLP/JSON readers expect one.
            out.setdefault(label, [])
    return out


def _value(buf: memoryview, raw, kind: str, depth: int):
    """One field's value in its OTLP/JSON form."""
    if kind == "uint":
        return raw
    if kind == "bool":
        return bool(raw)
    if kind == "int64":  # two's complement in ten bytes; OTLP/JSON writes it as text
        return str(raw - (1 << 64) if raw >= 1 << 63 else raw)
    if kind == "fixed64":
        return str(struct.unpack("<Q", raw)[0])
    if kind == "double":
        return struct.unpack("<d", raw)[0]
    if kind == "fixed32":
        return struct.unpack("<I", raw)[0]
    start, stop = raw
    if kind == "string":
        # Invalid UTF-8 is no protobuf string; the text is kept, marked where it breaks.
        return bytes(buf[start:stop]).decode("utf-8", errors="replace")
    if kind == "hex":
        return bytes(buf[start:stop]).hex()
    if kind == "bytes":
        return base64.b64encode(bytes(buf[start:stop])).decode("ascii")
    return _message(buf, start, stop, kind, depth + 1)
