"""Fuzzes an SSE route that never ends by design (GET /approvals/stream) with schemathesis's
generated inputs. `st run` reads every response to its end, so it cannot test this route: here
a 200 is checked from its head (status, content type, first bytes) and the connection closed;
any other status is requested again normally and checked with the same four checks as the
main run (no 5xx, schema, status code, content type).

Usage: fuzz_streams.py <openapi.yaml> <base url> <path> <max examples>
"""
import sys

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

document, base, path, examples = sys.argv[1], sys.argv[2].rstrip("/"), sys.argv[3], int(sys.argv[4])
schema = schemathesis.openapi.from_path(document)
operation = schema[path]["GET"]
checks = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
counts = {"requests": 0, "streams": 0, "errors": 0}


@settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(case=operation.as_strategy())
def test_stream(case):
    kwargs = case.as_transport_kwargs(base_url=base)
    with requests.request(**kwargs, stream=True, timeout=10) as head:
        counts["requests"] += 1
        if head.status_code == 200:
            counts["streams"] += 1
            assert head.headers.get("content-type", "").startswith("text/event-stream"), head.headers
            # With SLUICE_SSE_KEEPALIVE_SECONDS=1 something arrives within a second or two.
            first = next(head.iter_content(chunk_size=None))
            assert first.startswith((b":", b"id:", b"event:")), first
            return
    counts["errors"] += 1
    response = case.call(base_url=base, timeout=10)
    case.validate_response(response, checks=checks)


if __name__ == "__main__":
    try:
        test_stream()
    finally:
        print(f"fuzz_streams: {path}: {counts['requests']} requests, {counts['streams']} streams opened, {counts['errors']} error responses checked")
