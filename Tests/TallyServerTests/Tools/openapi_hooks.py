"""Schemathesis hooks for check_openapi_conformance.py: the import routes take JSON Lines
(`application/jsonl`, one JSON value per line), which schemathesis cannot write by itself."""
import json

import schemathesis


@schemathesis.serializer("application/jsonl")
def json_lines(context, value):
    lines = value if isinstance(value, list) else [value]
    return "\n".join(json.dumps(line) for line in lines).encode("utf-8")
