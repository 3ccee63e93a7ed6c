"""Encodes datums and resolves them with the reference implementations, for the Rust tests.

Reads JSON lines {"writer": schema, "reader": schema, "datum": value in Avro's JSON encoding
for the writer schema}. Writes one JSON line per input:
{"bytes": hex of the writer's binary (by fastavro),
 "avro": the datum read by Apache Avro's Python implementation with the reader schema, in
         Avro's JSON encoding, or {"error": reason},
 "fastavro": the same by fastavro}.
"""

import io
import json
import sys
import uuid

import avro.io
import avro.schema
import fastavro


def encode(writer, datum):
    parsed = fastavro.parse_schema(writer, _write_hint=False)
    record = next(iter(fastavro.json_reader(io.StringIO(json.dumps(datum)), parsed)))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, record)
    return buffer.getvalue()


def plain(value):
    """Python values a JSON writer cannot take, as the strings Avro's JSON encoding has."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def render(reader, value):
    value = plain(value)
    parsed = fastavro.parse_schema(reader, _write_hint=False)
    out = io.StringIO()
    fastavro.json_writer(out, parsed, [value])
    return json.loads(out.getvalue().strip())


def with_avro(writer, reader, data):
    w = avro.schema.parse(json.dumps(writer))
    r = avro.schema.parse(json.dumps(reader))
    value = avro.io.DatumReader(w, r).read(avro.io.BinaryDecoder(io.BytesIO(data)))
    return render(reader, value)


def with_fastavro(writer, reader, data):
    w = fastavro.parse_schema(writer, _write_hint=False)
    r = fastavro.parse_schema(reader, _write_hint=False)
    value = fastavro.schemaless_reader(io.BytesIO(data), w, r)
    return render(reader, value)


def attempt(f, *args):
    try:
        return f(*args)
    except Exception as e:  # the reason goes to the test's message
        return {"error": f"{type(e).__name__}: {e}"[:300]}


for line in sys.stdin:
    job = json.loads(line)
    data = encode(job["writer"], job["datum"])
    print(json.dumps({
        "bytes": data.hex(),
        "avro": attempt(with_avro, job["writer"], job["reader"], data),
        "fastavro": attempt(with_fastavro, job["writer"], job["reader"], data),
    }), flush=True)
