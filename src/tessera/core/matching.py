"""Vault's special-path patterns (unauthenticated and root paths of a backend) and their match."""

from __future__ import annotations


def path_matches(patterns: list[str] | tuple[str, ...], path: str) -> bool:
    """Vault's special-path match: exact, or a prefix when the pattern ends in '*'; a '+' segment
    matches any one segment (pki's ``issuer/+/pem``)."""
    for pattern in patterns:
        if "+" in pattern and _segments_match(pattern, path):
            return True
        if pattern.endswith("*"):
            if path.startswith(pattern[:-1]):
                return True
        elif path == pattern or path == pattern.rstrip("/"):
            return True
    return False


def _segments_match(pattern: str, path: str) -> bool:
    want, have = pattern.rstrip("*").split("/"), path.split("/")
    if pattern.endswith("*"):
        have = have[: len(want)]
        if len(have) < len(want) or not have[-1].startswith(want[-1]):
            return False
        want, have = want[:-1], have[:-1]
    elif len(want) != len(have):
        return False
    return all(w == "+" or w == h for w, h in zip(want, have, strict=True))
