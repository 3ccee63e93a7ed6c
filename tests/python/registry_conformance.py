"""The registry conformance suite through Confluent's official Python client: the behaviours
`tests/tests/test_registry.rs` checks over raw HTTP, driven by `SchemaRegistryClient`,
`AvroSerializer` and `AvroDeserializer` as an application would.

Usage: registry_conformance.py URL AUTH_URL
  URL       a fresh strata registry
  AUTH_URL  a fresh strata registry requiring basic auth `alice:s3cret`
Prints `ok NAME` per behaviour; on a failure prints `FAIL NAME: reason` and exits 1.
"""

import json
import sys
import traceback

from confluent_kafka.schema_registry import (
    Schema,
    SchemaReference,
    SchemaRegistryClient,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

URL, AUTH_URL = sys.argv[1], sys.argv[2]
CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def client(url=None, **conf):
    conf = {"url": url or URL, "max.retries": 0, **conf}
    return SchemaRegistryClient(conf)


def record(name, fields):
    out = []
    for f in fields:
        if f.endswith("?"):
            out.append({"name": f[:-1], "type": "int", "default": 0})
        else:
            out.append({"name": f, "type": "int"})
    return Schema(json.dumps({"type": "record", "name": name, "fields": out}), "AVRO")


def refused(fn, http_status, error_code):
    try:
        fn()
    except SchemaRegistryError as e:
        assert (e.http_status_code, e.error_code) == (http_status, error_code), (
            f"expected {http_status}/{error_code}, got {e.http_status_code}/{e.error_code}: "
            f"{e.error_message}"
        )
        return e
    raise AssertionError(f"expected a {error_code} refusal, the call succeeded")


@check
def registering_the_same_schema_again_returns_its_id_and_creates_no_version():
    sr = client()
    first = sr.register_schema("py-reg-value", record("Reg", ["a"]))
    again = client().register_schema("py-reg-value", record("Reg", ["a"]))
    assert first == again, (first, again)
    assert sr.get_versions("py-reg-value") == [1]


@check
def the_same_schema_under_another_subject_gets_the_same_id():
    sr = client()
    a = sr.register_schema("py-shared-a", record("PyShared", ["x"]))
    b = sr.register_schema("py-shared-b", record("PyShared", ["x"]))
    assert a == b
    assert sorted(sr.get_subjects_by_schema_id(a)) == ["py-shared-a", "py-shared-b"]
    versions = sr.get_schema_versions(a)
    assert sorted((v.subject, v.version) for v in versions) == [
        ("py-shared-a", 1),
        ("py-shared-b", 1),
    ]


@check
def whitespace_does_not_make_a_new_schema_and_the_canonical_form_is_served():
    sr = client()
    spaced = '{ "type" : "record", "name" : "Canon", "fields" : [ {"name": "a", "type": "string"} ] }'
    compact = '{"type":"record","name":"Canon","fields":[{"name":"a","type":"string"}]}'
    a = sr.register_schema("py-canon-value", Schema(spaced, "AVRO"))
    b = client().register_schema("py-canon-value", Schema(compact, "AVRO"))
    assert a == b
    assert client().get_schema(a).schema_str == compact


@check
def normalize_makes_equivalent_spellings_one_schema():
    one = '{"type":"record","name":"N","namespace":"ns","x-b":1,"x-a":2,"fields":[{"name":"a","type":"int"}]}'
    two = '{"type":"record","name":"ns.N","x-a":2,"x-b":1,"fields":[{"name":"a","type":"int"}]}'
    a = client().register_schema("py-norm-value", Schema(one, "AVRO"), normalize_schemas=True)
    b = client().register_schema("py-norm-value", Schema(two, "AVRO"), normalize_schemas=True)
    assert a == b
    assert client().get_versions("py-norm-value") == [1]


@check
def lookup_finds_a_schema_or_says_which_part_is_missing():
    sr = client()
    schema_id = sr.register_schema("py-lookup-value", record("Look", ["a"]))
    found = client().lookup_schema("py-lookup-value", record("Look", ["a"]))
    assert (found.schema_id, found.version, found.subject) == (schema_id, 1, "py-lookup-value")
    refused(lambda: client().lookup_schema("py-lookup-value", record("Other", ["b"])), 404, 40403)
    refused(lambda: client().lookup_schema("py-nobody", record("Look", ["a"])), 404, 40401)


@check
def subjects_and_versions_are_listed():
    sr = client()
    sr.register_schema("py-list-alpha", record("Alpha", ["a"]))
    sr.register_schema("py-list-beta", record("Beta", ["a"]))
    assert {"py-list-alpha", "py-list-beta"} <= set(sr.get_subjects())
    assert sr.get_subjects(subject_prefix="py-list-al") == ["py-list-alpha"]
    sr.delete_subject("py-list-beta")
    assert "py-list-beta" not in sr.get_subjects()
    assert "py-list-beta" in sr.get_subjects(deleted=True)
    refused(lambda: sr.get_versions("py-nobody"), 404, 40401)


@check
def versions_are_fetched_by_number_or_latest_and_invalid_ones_refused():
    sr = client()
    sr.register_schema("py-ver-value", record("Ver", ["a"]))
    second = sr.register_schema("py-ver-value", record("Ver", ["a", "b?"]))
    latest = client().get_latest_version("py-ver-value")
    assert (latest.version, latest.schema_id) == (2, second)
    assert client().get_version("py-ver-value", 2).schema_id == second
    assert client().get_version("py-ver-value", 1).version == 1
    refused(lambda: client().get_version("py-ver-value", 3), 404, 40402)
    refused(lambda: client().get_version("py-ver-value", 0), 422, 42202)


@check
def schemas_are_fetched_by_id_and_unknown_ids_refused():
    sr = client()
    schema_id = sr.register_schema("py-ids-value", record("Ids", ["a"]))
    assert json.loads(client().get_schema(schema_id).schema_str)["name"] == "Ids"
    refused(lambda: client().get_schema(99999), 404, 40403)
    assert client().get_schema_types() == ["AVRO"]
    assert client().get_contexts() == ["."]


@check
def an_incompatible_schema_is_refused_with_409_and_details():
    sr = client()
    sr.register_schema("py-incompat-value", record("Inc", ["a"]))
    error = refused(
        lambda: client().register_schema("py-incompat-value", record("Inc", ["a", "b"])), 409, 409
    )
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in error.error_message, error.error_message


@check
def compatibility_is_tested_against_the_latest_or_all_versions():
    sr = client()
    bad = record("Comp", ["a", "b"])
    good = record("Comp", ["a", "b?"])
    assert sr.test_compatibility("py-comp-value", bad) is True  # no versions yet
    sr.register_schema("py-comp-value", record("Comp", ["a"]))
    assert sr.test_compatibility("py-comp-value", bad, verbose=True) is False
    assert sr.test_compatibility("py-comp-value", good) is True
    assert sr.test_compatibility("py-comp-value", bad, version=1) is False
    assert sr.test_compatibility_all_versions("py-comp-value", good) is True
    refused(lambda: sr.test_compatibility("py-comp-value", good, version=5), 404, 40402)


@check
def compatibility_levels_are_set_read_and_deleted():
    sr = client()
    assert sr.get_compatibility() == "BACKWARD"
    refused(lambda: sr.get_compatibility("py-level-value"), 404, 40408)
    assert sr.set_compatibility("py-level-value", "FULL_TRANSITIVE")["compatibility"] == "FULL_TRANSITIVE"
    assert sr.get_compatibility("py-level-value") == "FULL_TRANSITIVE"
    sr.delete_config("py-level-value")
    refused(lambda: sr.get_compatibility("py-level-value"), 404, 40408)
    refused(lambda: sr.set_compatibility("py-level-value", "SIDEWAYS"), 422, 42203)


@check
def modes_are_set_and_readonly_refuses_registration():
    sr = client()
    sr.register_schema("py-mode-value", record("Mode", ["a"]))
    assert sr.update_mode("py-mode-value", "READONLY") == "READONLY"
    assert sr.get_mode("py-mode-value") == "READONLY"
    refused(lambda: client().register_schema("py-mode-value", record("Mode", ["a", "b?"])), 422, 42205)
    sr.delete_mode("py-mode-value")
    client().register_schema("py-mode-value", record("Mode", ["a", "b?"]))
    assert sr.get_global_mode() == "READWRITE"
    # IMPORT needs an empty registry.
    refused(lambda: sr.update_global_mode("IMPORT"), 422, 42205)
    refused(lambda: sr.update_mode("py-mode-value", "NEVER"), 422, 42204)


@check
def versions_are_soft_deleted_before_hard_deleted():
    sr = client()
    sr.register_schema("py-delv-value", record("DelV", ["a"]))
    sr.register_schema("py-delv-value", record("DelV", ["a", "b?"]))
    refused(lambda: sr.delete_version("py-delv-value", 1, permanent=True), 404, 40407)
    assert sr.delete_version("py-delv-value", 1) == 1
    refused(lambda: sr.delete_version("py-delv-value", 1), 404, 40406)
    assert sr.get_versions("py-delv-value") == [2]
    assert sr.get_versions("py-delv-value", deleted=True) == [1, 2]
    assert sr.delete_version("py-delv-value", 1, permanent=True) == 1
    assert sr.get_versions("py-delv-value", deleted=True) == [2]


@check
def subjects_are_soft_deleted_before_hard_deleted_and_versions_follow_confluent():
    sr = client()
    sr.register_schema("py-dels-value", record("DelS", ["a"]))
    sr.register_schema("py-dels-value", record("DelS", ["a", "b?"]))
    refused(lambda: sr.delete_subject("py-dels-value", permanent=True), 404, 40405)
    assert sr.delete_subject("py-dels-value") == [1, 2]
    refused(lambda: sr.delete_subject("py-dels-value"), 404, 40404)
    client().register_schema("py-dels-value", record("DelS", ["a", "c?"]))
    assert sr.get_versions("py-dels-value") == [3]
    sr.delete_subject("py-dels-value")
    assert sr.delete_subject("py-dels-value", permanent=True) == [1, 2, 3]
    client().register_schema("py-dels-value", record("DelS", ["a"]))
    assert sr.get_versions("py-dels-value") == [1]


@check
def references_resolve_and_protect_what_they_name():
    sr = client()
    opened = '{"type":"record","name":"PyOpened","namespace":"bank","fields":[{"name":"id","type":"string"}]}'
    sr.register_schema("bank.PyOpened", Schema(opened, "AVRO"))
    union = Schema(
        '["bank.PyOpened"]',
        "AVRO",
        [SchemaReference("bank.PyOpened", "bank.PyOpened", 1)],
    )
    schema_id = sr.register_schema("py-refs-value", union)
    fetched = client().get_schema(schema_id)
    assert [(r.name, r.subject, r.version) for r in fetched.references] == [
        ("bank.PyOpened", "bank.PyOpened", 1)
    ]
    assert sr.get_referenced_by("bank.PyOpened", 1) == [schema_id]
    refused(lambda: sr.delete_version("bank.PyOpened", 1), 422, 42206)


@check
def invalid_and_unsupported_schemas_are_refused_with_42201():
    refused(lambda: client().register_schema("py-bad-value", Schema('{"type":"nope"}', "AVRO")), 422, 42201)
    refused(lambda: client().register_schema("py-bad-value", Schema('{"type":"object"}', "JSON")), 422, 42201)


@check
def basic_auth_is_required_when_configured():
    refused(lambda: client(AUTH_URL).get_subjects(), 401, 401)
    authed = client(AUTH_URL, **{"basic.auth.user.info": "alice:s3cret"})
    assert authed.get_subjects() == []
    authed.register_schema("py-auth-value", record("Auth", ["a"]))


@check
def the_avro_serializer_and_deserializer_work_against_the_registry():
    sr = client()
    topic = "py-serde"
    v1 = json.dumps({"type": "record", "name": "Account", "namespace": "py",
                     "fields": [{"name": "id", "type": "string"}]})
    v2 = json.dumps({"type": "record", "name": "Account", "namespace": "py",
                     "fields": [{"name": "id", "type": "string"},
                                {"name": "currency", "type": "string", "default": "EUR"}]})
    ctx = SerializationContext(topic, MessageField.VALUE)
    old = AvroSerializer(sr, v1, conf={"auto.register.schemas": True})(
        {"id": "a-1"}, ctx
    )
    new = AvroSerializer(client(), v2, conf={"auto.register.schemas": True})(
        {"id": "a-2", "currency": "USD"}, ctx
    )
    assert old[0] == 0 and new[0] == 0  # Confluent framing
    assert int.from_bytes(old[1:5], "big") != int.from_bytes(new[1:5], "big")
    assert client().get_versions(f"{topic}-value") == [1, 2]
    # A reader on v2 reads both, the old record through Avro resolution (the default).
    reader = AvroDeserializer(client(), v2)
    assert reader(old, ctx) == {"id": "a-1", "currency": "EUR"}
    assert reader(new, ctx) == {"id": "a-2", "currency": "USD"}
    # A reader without a schema reads each with its writer schema, fetched by id.
    assert AvroDeserializer(client())(old, ctx) == {"id": "a-1"}
    # An incompatible v3 is refused at serialization.
    v3 = json.dumps({"type": "record", "name": "Account", "namespace": "py",
                     "fields": [{"name": "id", "type": "long"}]})
    try:
        AvroSerializer(client(), v3, conf={"auto.register.schemas": True})({"id": 1}, ctx)
    except Exception as e:  # SerializationError wrapping the registry's 409
        assert "409" in str(e) or "incompatible" in str(e), str(e)
    else:
        raise AssertionError("an incompatible schema was registered")


def main():
    failed = 0
    for fn in CHECKS:
        try:
            fn()
            print(f"ok {fn.__name__}", flush=True)
        except Exception as e:  # report every failure, then fail
            failed += 1
            print(f"FAIL {fn.__name__}: {e!r}", flush=True)
            traceback.print_exc()
    print(f"{len(CHECKS) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
