"""The HTTP layer's shortcuts answer exactly as the general code they skip (server/app.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tessera.server import app


@given(st.text(alphabet="/.a%v1", max_size=12))
def test_a_plain_path_is_one_the_path_checks_leave_alone(path: str) -> None:
    if app._plain_path(path):
        assert app._refuse_path(path) is None
        assert app._clean_path(path) == path


def test_unclean_paths_still_take_the_full_checks() -> None:
    for path in ("//v1/x", "/v1/./x", "/v1/a/../b", "v1/x", "/v1//x"):
        assert not app._plain_path(path)


def test_cgi_headers_are_the_http_keys_plus_content_type_and_length() -> None:
    scope = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/v1/x",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": object(),
        "HTTP_X_VAULT_TOKEN": "t",
        "HTTP_X_CUSTOM_THING": "c",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": "2",
        "HTTP_": "nameless",
    }
    for _ in range(2):  # the second time from the remembered names
        assert app.cgi_headers(scope) == {
            "x-vault-token": "t",
            "x-custom-thing": "c",
            "content-type": "application/json",
            "content-length": "2",
        }
    assert app.cgi_headers({"HTTP_HOST": "h"}) == {"host": "h"}


def test_request_ids_are_version_4_uuids_as_uuid_spells_them() -> None:
    import os
    import uuid

    random = os.urandom(16 * 64)
    made = app.request_ids(random)
    assert len(made) == 64
    for i, text in enumerate(made):
        digits, source = text.replace("-", ""), random[16 * i : 16 * i + 16].hex()
        assert digits[:12] + digits[13:16] + digits[17:] == source[:12] + source[13:16] + source[17:]
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text
    ids = {app.new_request_id() for _ in range(600)}  # across refills: all distinct
    assert len(ids) == 600
