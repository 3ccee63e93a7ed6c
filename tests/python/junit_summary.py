"""Parses a JUnit XML report (path as argument) with junitparser and prints a JSON summary:
the suites' test and failure counts and each case's name and failure type."""

import json
import sys

from junitparser import Failure, JUnitXml

report = JUnitXml.fromfile(sys.argv[1])
cases = []
for suite in report:
    for case in suite:
        failures = [r for r in case.result if isinstance(r, Failure)]
        cases.append({"name": case.name, "failure": failures[0].type if failures else None})
print(json.dumps({"tests": report.tests, "failures": report.failures, "cases": cases}))
