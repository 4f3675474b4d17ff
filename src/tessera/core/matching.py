"""Vault's special-path patterns (unauthenticated and root paths of a backend) and their match."""

from __future__ import annotations

from ..routing.router import Route


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


_PLAN_CACHE_SIZE = 4096


class SpecialPaths:
    """The special-path answers per full request path: (needs no token, needs sudo).

    Every request asks both of its backend; the token store lists dozens of root paths, and the
    same few paths come back request after request. An answer is kept with the route it was
    computed for and used only while the router still gives that route (a remount starts afresh).
    """

    __slots__ = ("_answers",)

    def __init__(self) -> None:
        self._answers: dict[str, tuple[Route, bool, bool]] = {}

    def flags(self, route: Route, full_path: str, rel: str) -> tuple[bool, bool]:
        answers = self._answers
        found = answers.get(full_path)
        if found is not None and found[0] is route:
            return found[1], found[2]
        backend = route.backend
        unauth = path_matches(backend.unauthenticated_paths, rel)
        sudo = path_matches(backend.root_paths, rel)
        if len(answers) >= _PLAN_CACHE_SIZE:
            answers.clear()  # bounded: a flood of distinct paths only costs matching again
        answers[full_path] = (route, unauth, sudo)
        return unauth, sudo
