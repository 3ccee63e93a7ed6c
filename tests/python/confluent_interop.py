"""Confluent's own Python client on the other side of strata: produces framed records with
`AvroSerializer` (which registers each version as it first writes with it) and reads strata's
records with `AvroDeserializer`, against a real Schema Registry at `url` (strata's own, in
the tests).

Usage:
  confluent_interop.py produce COUNT   stdin: {"url", "subject", "topic", "schemas": [text, ...],
                                              "strategy": "topic" | "record" | "topic_record"}
      one line per record: {"version", "id", "framed": hex, "value": normalized JSON}
      (`strategy`, default "topic": the serializer's `subject.name.strategy`; `field`,
      "value" or "key", default "value": which part of the record the data is, so the topic
      strategy's subject is `<topic>-value` or `<topic>-key`)
  confluent_interop.py consume         stdin: {"url", "subject", "topic", "records": [hex, ...],
                                              "strategy": as for produce}
      one line per record: {"id", "value": normalized JSON}

Normalized JSON is Avro's JSON encoding with unions untagged: what a default looks like.
"""

import datetime
import decimal
import json
import random
import sys
import uuid

from confluent_kafka.schema_registry import (
    SchemaRegistryClient,
    record_subject_name_strategy,
    topic_record_subject_name_strategy,
    topic_subject_name_strategy,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

import fastavro

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def named_types(schema):
    """The schema with full names throughout, and its named types by full name."""
    named = {}
    parsed = fastavro.parse_schema(schema, named_schemas=named, _write_hint=False)
    return parsed, named


def resolve(schema, named):
    if isinstance(schema, str) and schema in named:
        return named[schema]
    return schema


def generate(schema, named, rng, depth=0):
    schema = resolve(schema, named)
    if isinstance(schema, list):
        branch = rng.choice(schema)
        value = generate(branch, named, rng, depth + 1)
        target = resolve(branch, named)
        if isinstance(target, dict) and target.get("type") in ("record", "enum", "fixed"):
            return (target["name"], value)
        return value
    if isinstance(schema, str):
        schema = {"type": schema}
    kind, logical = schema["type"], schema.get("logicalType")
    if logical == "uuid":
        return str(uuid.UUID(int=rng.getrandbits(128)))
    if logical == "timestamp-micros" or logical == "timestamp-millis":
        return EPOCH + datetime.timedelta(milliseconds=rng.randint(-10**12, 10**12))
    if logical == "date":
        return datetime.date(1970, 1, 1) + datetime.timedelta(days=rng.randint(-10**5, 10**5))
    if logical == "decimal":
        return decimal.Decimal(rng.randint(-10**9, 10**9)).scaleb(-schema["scale"])
    if kind == "null":
        return None
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "int":
        return rng.randint(-2**31, 2**31 - 1)
    if kind == "long":
        # Amounts of cents are longs; the example's decimal totals hold 12 digits.
        return rng.randint(-10**11, 10**11)
    if kind in ("float", "double"):
        return float(rng.randint(-10**6, 10**6)) / 8
    if kind == "string":
        return "".join(rng.choice("abcé€😀 ") for _ in range(rng.randint(0, 8)))
    if kind == "bytes":
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 8)))
    if kind == "fixed":
        return bytes(rng.getrandbits(8) for _ in range(schema["size"]))
    if kind == "enum":
        return rng.choice(schema["symbols"])
    if kind == "array":
        n = 0 if depth > 3 else rng.randint(0, 2)
        return [generate(schema["items"], named, rng, depth + 1) for _ in range(n)]
    if kind == "map":
        n = 0 if depth > 3 else rng.randint(0, 2)
        return {f"k{i}": generate(schema["values"], named, rng, depth + 1) for i in range(n)}
    if kind == "record":
        return {f["name"]: generate(f["type"], named, rng, depth + 1) for f in schema["fields"]}
    raise ValueError(f"cannot generate {schema}")


def normalize(schema, named, value):
    """A Python value as Avro's JSON encoding with unions untagged."""
    schema = resolve(schema, named)
    if isinstance(schema, list):
        if isinstance(value, tuple):
            name, value = value
            branch = next(b for b in schema if resolve(b, named).get("name") == name)
            return normalize(branch, named, value)
        for branch in schema:
            parsed = fastavro.parse_schema(branch, named_schemas=dict(named), _write_hint=False)
            if fastavro.validation.validate(value, parsed, raise_errors=False):
                return normalize(branch, named, value)
        raise ValueError(f"no branch of {schema} takes {value!r}")
    if isinstance(schema, str):
        schema = {"type": schema}
    kind, logical = schema["type"], schema.get("logicalType")
    if logical == "uuid":
        return str(value)
    if logical == "timestamp-micros":
        return (value - EPOCH) // datetime.timedelta(microseconds=1)
    if logical == "timestamp-millis":
        return (value - EPOCH) // datetime.timedelta(milliseconds=1)
    if logical == "date":
        return (value - datetime.date(1970, 1, 1)).days
    if logical == "decimal":
        unscaled = int(value.scaleb(schema["scale"]))
        length = max(1, (unscaled.bit_length() + 8) // 8)
        return unscaled.to_bytes(length, "big", signed=True).decode("latin-1")
    if kind in ("bytes", "fixed"):
        return value.decode("latin-1")
    if kind in ("float", "double"):
        return float(value)
    if kind == "array":
        return [normalize(schema["items"], named, v) for v in value]
    if kind == "map":
        return {k: normalize(schema["values"], named, v) for k, v in value.items()}
    if kind == "record":
        return {f["name"]: normalize(f["type"], named, value[f["name"]]) for f in schema["fields"]}
    return value


def strategy(job):
    """The job's `subject.name.strategy` (default: the topic's)."""
    return {
        "topic": topic_subject_name_strategy,
        "record": record_subject_name_strategy,
        "topic_record": topic_record_subject_name_strategy,
    }[job.get("strategy", "topic")]


def context(job):
    field = {"value": MessageField.VALUE, "key": MessageField.KEY}[job.get("field", "value")]
    return SerializationContext(job["topic"], field)


def produce(job, count):
    # The serializer registers each version as it first writes with it, as producers do.
    registry = SchemaRegistryClient({"url": job["url"]})
    ctx = context(job)
    rng = random.Random(7)
    for version, text in enumerate(job["schemas"], start=1):
        schema, named = named_types(json.loads(text))
        serializer = AvroSerializer(registry, text, conf={"subject.name.strategy": strategy(job)})
        for _ in range(count):
            value = generate(schema, named, rng)
            framed = serializer(value, ctx)
            schema_id = int.from_bytes(framed[1:5], "big")
            print(json.dumps({"version": version, "id": schema_id, "framed": framed.hex(),
                              "value": normalize(schema, named, value)}))


def consume(job):
    registry = SchemaRegistryClient({"url": job["url"]})
    ctx = context(job)
    deserializer = AvroDeserializer(
        registry, return_record_name=True, conf={"subject.name.strategy": strategy(job)}
    )
    for record in job["records"]:
        data = bytes.fromhex(record)
        schema_id = int.from_bytes(data[1:5], "big")
        schema, named = named_types(json.loads(registry.get_schema(schema_id).schema_str))
        value = deserializer(data, ctx)
        print(json.dumps({"id": schema_id, "value": normalize(schema, named, value)}))


if __name__ == "__main__":
    job = json.load(sys.stdin)
    if sys.argv[1] == "produce":
        produce(job, int(sys.argv[2]))
    else:
        consume(job)
