"""Crash consistency: SIGKILL a server on SQLite mid-write, restart, unseal, check what it acknowledged.

Each cycle, writer threads drive KV puts, token creates, policy writes and mounts against a real
``tessera server -config`` on SQLite, and the server is killed with SIGKILL at a random moment.
Before it restarts, the database is opened in-process and its invariants are checked at storage
level (every token entry has its accessor index and the reverse, every mount in the table has a
working backend). After the restart and unseal, every write that got a 2xx must be readable with
the acknowledged content, every acknowledged token must look itself up and be found through its
accessor, every acknowledged mount must be usable.

Used by ``tests/reliability/test_crash.py`` (10 cycles) and ``bench/crash_full.py`` (100+).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tessera.core.core import Core
from tessera.storage.sqlite import SQLitePhysical
from tests.helpers.http import call
from tests.helpers.servers import TesseraServer, free_port, hcl_config


@dataclass
class Acked:
    """Writes the server acknowledged (2xx), with what must be read back."""

    kv: dict[str, str] = field(default_factory=dict)  # path → value
    tokens: dict[str, str] = field(default_factory=dict)  # token → accessor
    policies: dict[str, str] = field(default_factory=dict)  # name → text
    mounts: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def total(self) -> int:
        return len(self.kv) + len(self.tokens) + len(self.policies) + len(self.mounts)


@dataclass
class CrashFigures:
    cycles: int = 0
    acknowledged: int = 0
    verified: int = 0
    in_flight_at_kill: int = 0
    elapsed: float = 0.0

    def summary(self) -> str:
        return (
            f"{self.cycles} SIGKILL cycles survived; {self.acknowledged} acknowledged writes, "
            f"{self.verified} read-back checks, 0 lost, 0 partial; {self.elapsed:.0f}s"
        )


class CrashHarness:
    def __init__(self, workdir: Path, *, seed: int | None = None, writers: int = 4) -> None:
        self.workdir = workdir
        self.db = workdir / "tessera.db"
        self.rng = random.Random(seed)
        self.writers = writers
        port = free_port()
        config = workdir / "server.hcl"
        config.write_text(hcl_config(port, storage="sqlite", storage_options={"path": str(self.db)}))
        self.server = TesseraServer(config=config)
        self.acked = Acked()
        self.figures = CrashFigures()
        self.in_flight = 0

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        self.server.start()
        self.server.init(3, 2)
        self.server.unseal()
        self.root = str(self.server.root_token)
        status, body, _ = self.server.call(
            "POST", "sys/mounts/secret", json={"type": "kv", "options": {"version": "2"}}
        )
        assert status == 204, body

    def stop(self) -> None:
        self.server.cleanup()

    # -- one cycle -------------------------------------------------------------------
    def cycle(self, n: int, window: tuple[float, float] = (0.3, 1.5)) -> None:
        stop = threading.Event()
        threads = [
            threading.Thread(target=self._writer, args=(n, w, stop), daemon=True) for w in range(self.writers)
        ]
        for t in threads:
            t.start()
        time.sleep(self.rng.uniform(*window))
        self.server.kill()  # SIGKILL while the writers are mid-request
        stop.set()
        for t in threads:
            t.join(timeout=30)
        self.check_storage()
        self.server.start()
        self.server.unseal()
        self.verify(sample=None if n % 10 == 9 else 200)
        self.figures.cycles += 1
        self.figures.acknowledged = self.acked.total()

    def _writer(self, cycle: int, worker: int, stop: threading.Event) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            tag = f"c{cycle}w{worker}n{i}"
            kind = self.rng.choices(["kv", "token", "policy", "mount"], weights=[5, 3, 2, 0.2])[0]
            try:
                self.in_flight += 1
                self._write(kind, tag)
            except (requests.RequestException, OSError):
                return  # the server is gone: this request's fate is unknown, which is allowed
            finally:
                self.in_flight -= 1

    def _write(self, kind: str, tag: str) -> None:
        addr, root = self.server.addr, self.root
        if kind == "kv":
            value = f"value-{tag}-{self.rng.random()}"
            status, _, _ = call(
                addr, "POST", f"secret/data/crash/{tag}", root, json={"data": {"v": value}}, timeout=10
            )
            if status == 200:
                with self.acked.lock:
                    self.acked.kv[f"secret/data/crash/{tag}"] = value
        elif kind == "token":
            status, body, _ = call(
                addr,
                "POST",
                "auth/token/create",
                root,
                json={"policies": ["default"], "meta": {"t": tag}},
                timeout=10,
            )
            if status == 200:
                with self.acked.lock:
                    self.acked.tokens[body["auth"]["client_token"]] = body["auth"]["accessor"]
        elif kind == "policy":
            text = f'path "crash/{tag}/*" {{ capabilities = ["read"] }}'
            status, _, _ = call(
                addr, "PUT", f"sys/policies/acl/p-{tag}", root, json={"policy": text}, timeout=10
            )
            if status == 204:
                with self.acked.lock:
                    self.acked.policies[f"p-{tag}"] = text
        else:
            body = {"type": "kv", "options": {"version": "2"}}
            status, _, _ = call(addr, "POST", f"sys/mounts/m-{tag}", root, json=body, timeout=10)
            if status == 204:
                with self.acked.lock:
                    self.acked.mounts.append(f"m-{tag}")

    # -- checks ----------------------------------------------------------------------
    def check_storage(self) -> None:
        """Open the killed server's database in-process: indexes and tables must agree."""
        physical = SQLitePhysical(str(self.db))
        core = Core(physical)
        try:
            for key in self.server.keys:
                core.unseal(bytes.fromhex(key))
            assert not core.sealed
            store = core.tokens.storage
            salted_ids = set(store.list("id/"))
            for salted in salted_ids:
                entry = store.get_json("id/" + salted)
                assert entry is not None
                accessor = entry.get("accessor")
                if accessor:
                    assert core.tokens.accessor_target(accessor) == salted, f"token {salted} has no accessor"
            for key in store.list("accessor/"):
                doc = store.get_json("accessor/" + key)
                assert doc and doc["salted_id"] in salted_ids, f"accessor {key} has no token"
            for entry in core.mounts + core.auth_mounts:
                assert core.router.get(entry.route_prefix) is not None, f"mount {entry.path} has no backend"
        finally:
            core.seal()
            core.shutdown()

    def verify(self, sample: int | None) -> None:
        """Every acknowledged write (or a random sample of the older ones) reads back whole."""
        acked = self.acked
        addr, root = self.server.addr, self.root

        def pick(items: list[Any]) -> list[Any]:
            return items if sample is None or len(items) <= sample else self.rng.sample(items, sample)

        for path, value in pick(list(acked.kv.items())):
            status, body, _ = call(addr, "GET", path, root)
            assert status == 200 and body["data"]["data"] == {"v": value}, (path, status, body)
            self.figures.verified += 1
        for token, accessor in pick(list(acked.tokens.items())):
            status, body, _ = call(addr, "GET", "auth/token/lookup-self", token)
            assert status == 200 and body["data"]["accessor"] == accessor, (status, body)
            status, body, _ = call(
                addr, "POST", "auth/token/lookup-accessor", root, json={"accessor": accessor}
            )
            assert status == 200 and body["data"]["accessor"] == accessor, (status, body)
            self.figures.verified += 1
        for name, text in pick(list(acked.policies.items())):
            status, body, _ = call(addr, "GET", f"sys/policies/acl/{name}", root)
            assert status == 200 and body["data"]["policy"] == text, (name, status, body)
            self.figures.verified += 1
        status, body, _ = call(addr, "GET", "sys/mounts", root)
        assert status == 200
        listed = {p.rstrip("/") for p in body["data"]}
        visible = [m for m in listed if m.startswith("m-")]
        for mount in set(pick(acked.mounts)) | set(pick(visible)):
            # Acknowledged mounts must be there; any mount that is there must work (no half mount).
            assert mount in listed, f"acknowledged mount {mount} is missing"
            status, answer, _ = call(addr, "POST", f"{mount}/data/probe", root, json={"data": {"ok": 1}})
            assert status == 200, (mount, status, answer)
            status, answer, _ = call(addr, "GET", f"{mount}/data/probe", root)
            assert status == 200 and answer["data"]["data"] == {"ok": 1}, (mount, status, answer)
            self.figures.verified += 1
        accessors_status, accessors, _ = call(addr, "LIST", "auth/token/accessors", root)
        assert accessors_status == 200
        for accessor in pick(accessors["data"]["keys"]):
            status, body, _ = call(
                addr, "POST", "auth/token/lookup-accessor", root, json={"accessor": accessor}
            )
            assert status == 200, (accessor, status, body)


def run_cycles(
    workdir: Path, cycles: int, *, seed: int | None = None, window: tuple[float, float] = (0.3, 1.5)
) -> CrashFigures:
    """The whole run; raises AssertionError on the first lost or partial write."""
    harness = CrashHarness(workdir, seed=seed)
    started = time.monotonic()
    harness.start()
    try:
        for n in range(cycles):
            harness.cycle(n, window)
        harness.verify(sample=None)
    finally:
        harness.figures.elapsed = time.monotonic() - started
        harness.stop()
    return harness.figures
