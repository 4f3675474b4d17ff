"""Forwarded writes while the primary is paused (SIGSTOP/SIGCONT) and then killed (-9), counted:
every write the performance secondary acknowledged is on the primary after its restart and was
readable on the secondary at once (unless the primary died between answering and shipping it: the secondary's
wait ends when its stream loses the primary); every write sent after the kill is a 500 naming the primary
and left nothing behind; forwarding works again once the primary is back."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from tests.cluster.replication.pair import batch_token, caught_up, make_secondary, on_sqlite, started
from tests.helpers.servers import TesseraServer
from tests.helpers.waiting import until

WRITER = 'path "kv/*" { capabilities = ["create", "update", "read"] }\n'
CLIENTS = 3


@contextmanager
def _paused(server: TesseraServer) -> Iterator[None]:
    """The server stopped (SIGSTOP delivered: its state ``T``) for the block."""
    server._signal(signal.SIGSTOP)
    assert server.process is not None
    stat = Path(f"/proc/{server.process.pid}/stat")
    until(lambda: stat.read_text().rsplit(")", 1)[1].split()[0] == "T", "the primary to stop", 5)
    try:
        yield
    finally:
        server._signal(signal.SIGCONT)


class _Writers:
    """Clients writing distinct keys through the secondary; each acknowledged write is read back
    there at once with the same token."""

    def __init__(self, secondary: TesseraServer, token: str) -> None:
        self.secondary, self.headers = secondary, {"X-Vault-Token": token}
        self.results: dict[str, tuple[int, float, Any]] = {}  # key -> (status, sent at, body)
        self.unread: dict[str, float] = {}  # acknowledged writes not read back: when the ack came
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._write, args=(n,)) for n in range(CLIENTS)]

    def __enter__(self) -> _Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(150)

    def _write(self, n: int) -> None:
        session, base, i = requests.Session(), f"{self.secondary.addr}/v1/kv", 0
        while not self.stop.is_set():
            key, i = f"c{n}-{i}", i + 1
            sent = time.monotonic()
            try:
                answer = session.put(f"{base}/{key}", json={"v": key}, headers=self.headers, timeout=120)
                status, body = answer.status_code, (answer.json() if answer.content else None)
            except requests.RequestException as exc:
                status, body = 0, str(exc)
            self.results[key] = (status, sent, body)
            if status == 204:
                acknowledged = time.monotonic()
                read = session.get(f"{base}/{key}", headers=self.headers, timeout=30)
                if read.status_code != 200 or read.json()["data"] != {"v": key}:
                    self.unread[key] = acknowledged

    def acknowledged(self) -> set[str]:
        return {key for key, (status, _, _) in self.results.items() if status == 204}

    def sent_after(self, moment: float) -> dict[str, tuple[int, Any]]:
        return {key: (status, body) for key, (status, sent, body) in self.results.items() if sent > moment}


def test_forwarded_writes_through_a_paused_then_killed_primary(tmp_path: Path) -> None:
    primary, secondary = on_sqlite(tmp_path / "p"), on_sqlite(tmp_path / "s")
    with started(primary, secondary):
        primary.ok("POST", "sys/mounts/kv", {"type": "kv"})
        writer = batch_token(primary, "writer", WRITER)
        make_secondary(primary, secondary, "performance", "perf-1")
        until(lambda: caught_up(primary, secondary), "the secondary to catch up", 20.0)

        with _Writers(secondary, writer) as writers:
            time.sleep(1.0)
            with _paused(primary):
                paused = len(writers.acknowledged())
                time.sleep(2.0)
            time.sleep(1.0)
            through_pause = len(writers.acknowledged())
            dying = time.monotonic()
            primary.kill()
            killed = time.monotonic()  # gone: what is sent from now on reaches no primary
            time.sleep(1.0)
        late = writers.sent_after(killed)

        primary.restart(graceful=False)
        primary.unseal()
        listed = primary.ok("GET", "kv/", params={"list": "true"})["data"]["keys"]
        acknowledged = writers.acknowledged()
        print(
            f"\nforwarded writes: {len(acknowledged)} acknowledged ({paused} before the pause, "
            f"{through_pause} by the kill), {len(late)} sent after the kill, {len(writers.results)} in all"
        )
        assert through_pause > paused > 0  # writes went on after the pause
        assert acknowledged <= set(listed)  # an acknowledged write is the primary's
        # ... and was read back on the secondary at once, but for a write the primary answered and
        # died before shipping: acknowledged once the kill began (when the stream lost the primary).
        assert all(at > dying for at in writers.unread.values()), (writers.unread, dying)
        assert late and not set(late) & set(listed)  # sent to a dead primary: nothing applied
        for key, (status, body) in late.items():
            assert status == 500, (key, status, body)
            assert body["errors"][0].startswith("error forwarding the request to the primary at https://")

        # The primary back: the secondary reconnects, and forwards again.
        until(
            lambda: secondary.call("PUT", "kv/after", json={"v": "back"}, token=writer)[0] == 204,
            "forwarding to work again",
            20.0,
        )
        assert primary.ok("GET", "kv/after")["data"] == {"v": "back"}
        until(lambda: caught_up(primary, secondary), "the hashes to agree", 20.0)
