"""Cross-checks strata's schemas and data with fastavro, an independent Avro implementation.

Usage:
  check_schemas.py parse DIR      parses every `v<N>.avsc` under DIR; prints `parsed SUBJECT vN`
  check_schemas.py resolve        reads JSON lines {"writer", "reader", "datum" (hex)} on stdin,
                                  decodes each datum with the writer schema resolved into the
                                  reader schema; prints `ok` or `error: REASON` per line

Exits non-zero only when it cannot do its job (a schema that does not parse, bad input).
"""

import io
import json
import pathlib
import sys

import fastavro


def parse(root):
    for subject_dir in sorted(p for p in pathlib.Path(root).iterdir() if p.is_dir()):
        files = sorted(subject_dir.glob("v*.avsc"), key=lambda p: int(p.stem[1:]))
        for path in files:
            fastavro.parse_schema(json.loads(path.read_text()), _write_hint=False)
            print(f"parsed {subject_dir.name} {path.stem}")


def resolve():
    for line in sys.stdin:
        job = json.loads(line)
        writer = fastavro.parse_schema(job["writer"], _write_hint=False)
        reader = fastavro.parse_schema(job["reader"], _write_hint=False)
        buffer = io.BytesIO(bytes.fromhex(job["datum"]))
        try:
            fastavro.schemaless_reader(buffer, writer, reader)
            print("ok")
        except Exception as e:  # the reason goes to the test's assertion message
            print("error: " + str(e).replace("\n", " ")[:300])


if __name__ == "__main__":
    if sys.argv[1] == "parse":
        parse(sys.argv[2])
    elif sys.argv[1] == "resolve":
        resolve()
    else:
        sys.exit(f"unknown command {sys.argv[1]!r}")
