"""The web UI's HTTP surroundings side by side with the reference: the headers every /ui/ answer
carries (its CSP above all), and what a server without ``ui = true`` answers there.

The pages themselves differ (OpenBao ships its Ember app, Tessera its own); only their envelope is compared.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.servers import ReferenceServer, ServerProcess, TesseraServer, free_port, hcl_config
from tests.server.pairs import raw

UI_HEADERS = (
    "cache-control",
    "content-security-policy",
    "content-type",
    "service-worker-allowed",
    "strict-transport-security",
    "vary",
    "x-content-type-options",
    "x-frame-options",
    "content-encoding",
)


def _envelope(server: ServerProcess, path: str, **kwargs: object) -> tuple[int, dict[str, str | None]]:
    resp = raw(server, "GET", path, **kwargs)
    return resp.status_code, {name: resp.headers.get(name) for name in UI_HEADERS}


@pytest.mark.parametrize("path", ["/ui/", "/ui/vault/access/tokens", "/ui/no-such-file.js"])
def test_ui_answers_carry_the_references_headers(
    reference: ReferenceServer, tessera: TesseraServer, path: str
) -> None:
    # Unknown paths under /ui/ get the single page, which routes them: a bookmarked page still opens.
    for encoding in ("gzip", "identity"):
        expected = _envelope(reference, path, headers={"Accept-Encoding": encoding})
        assert expected[0] == 200 and expected[1]["content-type"] == "text/html; charset=utf-8"
        assert _envelope(tessera, path, headers={"Accept-Encoding": encoding}) == expected


def _pair(tmp_path: Path, extra: str) -> tuple[ReferenceServer, TesseraServer]:
    configs = []
    for name, span in (("bao", 2), ("tessera", 1)):
        config = tmp_path / f"{name}.hcl"
        config.write_text(hcl_config(free_port(span=span), extra=extra))
        configs.append(config)
    return ReferenceServer(config=configs[0]), TesseraServer(config=configs[1])


def test_without_ui_setting_there_is_no_ui(tmp_path: Path) -> None:
    ref, tes = _pair(tmp_path, "")
    with ref, tes:
        for path in ("/", "/ui", "/ui/", "/ui/vault/tokens"):
            answers = []
            for server in (ref, tes):
                resp = raw(server, "GET", path)
                answers.append((resp.status_code, resp.headers.get("content-type"), resp.text))
            assert answers[0] == answers[1], path
            assert answers[1][0] == 404


def test_ui_true_in_the_configuration_serves_it(tmp_path: Path) -> None:
    ref, tes = _pair(tmp_path, "ui = true\n")
    with ref, tes:
        for server in (ref, tes):
            assert (raw(server, "GET", "/").status_code, raw(server, "GET", "/").headers["location"]) == (
                307,
                "/ui/",
            )
        assert _envelope(tes, "/ui/") == _envelope(ref, "/ui/")
