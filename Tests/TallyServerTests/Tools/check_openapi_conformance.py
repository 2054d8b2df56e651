#!/usr/bin/env python3
"""Schemathesis against Docs/openapi.yaml, signed in as one user: every documented operation is
called with generated valid and invalid requests (fixed seed, bounded examples), and each answer
must be no 5xx, a status the document lists, a content type it lists and a body its schema
allows. Run by the Swift test OpenAPIConformanceTests with a real server; prints schemathesis's
summary and exits non-zero on any failure.

Usage: check_openapi_conformance.py BASE_URL SCHEMA COOKIE CSRF_TOKEN MAX_EXAMPLES SEED [EXCLUDED_PATH_REGEX]
"""
import os
import subprocess
import sys
import tempfile

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def main():
    base_url, schema, cookie, csrf, max_examples, seed = sys.argv[1:7]
    excluded = sys.argv[7] if len(sys.argv) > 7 else None
    # The schemathesis of this virtual environment, beside the interpreter that runs this file.
    binary = os.path.join(os.path.dirname(sys.executable), "schemathesis")
    command = [
        binary, "run", schema, "--url", base_url,
        "--header", f"Cookie: {cookie}", "--header", f"X-CSRF-Token: {csrf}",
        "--checks", CHECKS, "--max-examples", max_examples, "--seed", seed,
        # One worker: CPython 3.11 before 3.11.8 can fail ast.parse in a second thread with
        # "AST constructor recursion depth mismatch" (gh-106905), which hypothesis calls.
        "--phases", "examples,coverage,fuzzing", "--workers", "1", "--no-shrink",
        "--generation-database", "none", "--request-timeout", "20", "--no-color",
        "--suppress-health-check", "all", "--warnings", "off",
    ]
    if excluded:
        command += ["--exclude-path-regex", excluded]
    # The hooks module beside this file teaches schemathesis to write JSON Lines bodies.
    here = os.path.dirname(os.path.abspath(__file__))
    environment = dict(os.environ, SCHEMATHESIS_HOOKS="openapi_hooks", NO_COLOR="1",
                       PYTHONPATH=here + os.pathsep + os.environ.get("PYTHONPATH", ""))
    # Schemathesis keeps a cache of crashes in its working directory: a temporary one, so that
    # nothing is written into the repository.
    with tempfile.TemporaryDirectory(prefix="tally-schemathesis-") as scratch:
        run = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=scratch)
    print(run.stdout[-20000:])
    print(run.stderr[-4000:], file=sys.stderr)
    sys.exit(run.returncode)


if __name__ == "__main__":
    main()
