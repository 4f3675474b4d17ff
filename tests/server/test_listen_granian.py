"""granian's private API that server/listen.py relies on: fail loudly when a release changes it."""

from __future__ import annotations

import inspect

from granian.server.embed import Server

from tessera.server.listen import GRANIAN_SPAWN_ARGS, _threaded_spawner


def test_spawn_target_arguments_match_granians_own_worker() -> None:
    own = tuple(inspect.signature(Server._spawn_asgi_worker).parameters)
    assert own == GRANIAN_SPAWN_ARGS, "granian changed its worker target's arguments: update listen.py"


def test_embedded_server_accepts_a_spawn_target() -> None:
    assert "spawn_target" in inspect.signature(Server.serve).parameters


def test_threaded_spawner_imports_granians_wsgi_worker() -> None:
    # Raises ImportError (and make_server would quietly fall back to ASGI) if the internals moved.
    assert callable(_threaded_spawner(lambda *a: None, 1))
