"""Full-size fuzzing run: every documented endpoint, in-process, with and without tokens.

    python bench/fuzz_full.py [--requests 100000] [--mutations 20000]

Prints the figures that docs/reliability.md reports (requests fuzzed, statuses, 5xx and their
messages). Exits non-zero on the first unhandled 5xx or logged traceback, shrunk by hypothesis.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, given, settings

from tests.reliability.fuzzing import Target, run
from tests.reliability.test_batch_token_mutation import flipped, spelled


def mutate_batch_tokens(target: Target, examples: int) -> int:
    """Altered batch tokens (spelling and ciphertext bytes): none may be accepted."""
    status, body, _ = target.client.request(
        "POST", "auth/token/create", token="root", json={"type": "batch", "policies": ["default"]}
    )
    assert status == 200, body
    token = body["auth"]["client_token"]
    core = target.core
    count = 0

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(candidate=spelled(token) | flipped(token))
    def check(candidate: str) -> None:
        nonlocal count
        count += 1
        assert candidate == token or core.resolve_token(candidate) is None, candidate

    check()
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--mutations", type=int, default=20_000)
    args = parser.parse_args()
    target = Target()
    started = time.monotonic()
    try:
        figures = run(target, args.requests)
        mutations = mutate_batch_tokens(target, args.mutations)
    finally:
        target.close()
    print(f"fuzz: {figures.summary()}")
    print(
        f"fuzz: {len(target.operations)} documented operations; {mutations} batch-token mutations, 0 accepted"
    )
    print(f"fuzz: {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
