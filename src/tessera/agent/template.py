"""Rendering secrets into files (Vault Agent's ``template`` blocks, Consul Template's runner).

Each new auto-auth token restarts the runner, as in Vault Agent. The runner renders every template,
fetching secrets through ``secret``/``secrets`` with the agent's token, and writes a destination
only when its content changed (atomically, with ``perms``). It then sleeps until a dependency is
due: a static secret (KV, no lease) after ``static_secret_render_interval``; a leased one near its
end (renewable leases are renewed, others re-read at 85–95 % of the lease). Failures are retried
with a doubling backoff (250 ms up to 1 min); ``exit_on_retry_failure`` makes them fatal once the
retries (``vault.retry.num_retries``) are spent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import random
import shutil
import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson

from ..gocompat.durations import format_go_duration
from .client import Client, ResponseError
from .config import TemplateConfig, TemplateGlobals
from .hclog import kv
from .tmpl import Node, Renderer, parse
from .tmplfuncs import Secret, TemplateError, loads
from .tokens import Subscription

log = logging.getLogger("agent.template.server")
runner_log = logging.getLogger("agent")

FETCH_TIMEOUT = 90.0


class FetchError(Exception):
    """A secret could not be read; the whole render is retried."""


class TemplateFatalError(Exception):
    """Retries exhausted with ``exit_on_retry_failure``: the agent stops."""


@dataclass
class Dependency:
    body: dict[str, Any]
    due: float  # monotonic time to refresh
    lease_id: str = ""
    renewable: bool = False
    lease_duration: float = 0.0


@dataclass
class Template:
    cfg: TemplateConfig
    nodes: list[Node]
    name: str


def load_templates(configs: list[TemplateConfig]) -> list[Template]:
    """Read and parse every template now, so a broken one stops the agent at startup."""
    out = []
    for cfg in configs:
        if cfg.contents is not None:
            text, name = cfg.contents, "(dynamic)"
        else:
            with open(cfg.source, encoding="utf-8") as fh:
                text, name = fh.read(), cfg.source
        nodes = parse(
            text, name=name, funcs={"secret", "secrets"}, delims=(cfg.left_delimiter, cfg.right_delimiter)
        )
        out.append(Template(cfg, nodes, name))
    return out


class Runner:
    """One token's rendering loop."""

    def __init__(
        self,
        client: Client,
        token: str,
        templates: list[Template],
        settings: TemplateGlobals,
        *,
        num_retries: int = 12,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.token = token
        self.templates = templates
        self.settings = settings
        self.num_retries = num_retries
        self.rng = rng or random.Random()
        self.deps: dict[tuple[str, ...], Dependency] = {}
        self.kv2_mounts: dict[str, tuple[str, bool]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopped = threading.Event()

    # -- secret access (called from the render thread) --------------------------------------------

    def _call(self, coro: Any) -> Any:
        """Run a request on the event loop from the render thread; give up when the runner stops."""
        assert self.loop is not None
        if self.stopped.is_set():
            coro.close()
            raise FetchError("runner stopped")
        try:
            fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        except RuntimeError:  # the loop is closing
            coro.close()
            raise FetchError("runner stopped") from None
        deadline = time.monotonic() + FETCH_TIMEOUT
        while True:
            try:
                return fut.result(0.2)
            except concurrent.futures.TimeoutError:
                if self.stopped.is_set() or time.monotonic() > deadline:
                    fut.cancel()
                    raise FetchError("runner stopped") from None

    def _mount_info(self, path: str) -> tuple[str, bool]:
        """(mount path, is KV v2) via sys/internal/ui/mounts, as consul-template's preflight does."""
        for prefix, info in self.kv2_mounts.items():
            if path.startswith(prefix):
                return info
        try:
            resp = self._call(self.client.request("GET", f"sys/internal/ui/mounts/{path}", token=self.token))
        except Exception as exc:
            runner_log.warning(
                kv(f"vault.read({path}): failed to check if {path} is KVv2, assume not", error=exc)
            )
            return "", False
        data = (resp or {}).get("data") or {}
        mount = str(data.get("path") or "")
        version = str((data.get("options") or {}).get("version") or "1")
        info = (mount, data.get("type") in ("kv", "generic") and version == "2")
        if mount:
            self.kv2_mounts[mount] = info
        return info

    def _shim(self, path: str, prefix: str) -> str:
        mount, is_v2 = self._mount_info(path)
        if not is_v2 or not mount:
            return path
        if path in (mount, mount.rstrip("/")):
            return mount + prefix.rstrip("/")
        rest = path[len(mount) :]
        if rest.startswith(("data/", "metadata/")):
            return path
        return mount + prefix + rest

    def _due_time(self, body: dict[str, Any]) -> float:
        lease = float(body.get("lease_duration") or 0)
        now = time.monotonic()
        if lease <= 0:
            return now + max(self.settings.static_secret_render_interval, 1)
        if body.get("renewable") and body.get("lease_id"):
            return now + lease * 2 / 3 * (0.9 + self.rng.random() * 0.1)
        return now + lease * (0.85 + self.rng.random() * 0.1)

    def secret(self, path: str, *args: Any) -> Secret:
        path = str(path).strip("/")
        if args:
            data: dict[str, Any] = {}
            for arg in args:
                key, sep, value = str(arg).partition("=")
                if not sep:
                    raise TemplateError(f'invalid value "{arg}" - must be key=value')
                data[key] = value
            key_ = ("write", path, *map(str, args))
        else:
            path = self._shim(path, "data/")
            data, key_ = {}, ("read", path)
        dep = self.deps.get(key_)
        if dep is None:
            method = "PUT" if args else "GET"
            try:
                body = self._call(
                    self.client.request(method, path, token=self.token, data=data if args else None)
                )
            except ResponseError as exc:
                if exc.status == 404 and not exc.errors:
                    raise FetchError(f"vault.read({path}): no secret exists at {path}") from None
                raise FetchError(f"vault.read({path}): {exc}") from None
            except Exception as exc:
                raise FetchError(f"vault.read({path}): {exc}") from None
            if not isinstance(body, dict):
                raise FetchError(f"vault.read({path}): no secret exists at {path}")
            body = loads(_dumps(body))
            dep = Dependency(
                body,
                self._due_time(body),
                str(body.get("lease_id") or ""),
                bool(body.get("renewable")),
                float(body.get("lease_duration") or 0),
            )
            self.deps[key_] = dep
        return Secret(dep.body)

    def secrets(self, path: str) -> list[str]:
        path = self._shim(str(path).strip("/"), "metadata/")
        key_ = ("list", path)
        dep = self.deps.get(key_)
        if dep is None:
            try:
                body = self._call(self.client.request("LIST", path, token=self.token))
            except ResponseError as exc:
                if exc.status == 404:
                    body = {}
                else:
                    raise FetchError(f"vault.list({path}): {exc}") from None
            except Exception as exc:
                raise FetchError(f"vault.list({path}): {exc}") from None
            dep = Dependency(body or {}, self._due_time({}))
            self.deps[key_] = dep
        keys = ((dep.body or {}).get("data") or {}).get("keys") or []
        return sorted(str(k) for k in keys)

    # -- the loop -----------------------------------------------------------------------------------

    async def _refresh_due(self) -> None:
        """Renew due renewable leases (keeping the data); forget the other due dependencies."""
        now = time.monotonic()
        for key, dep in list(self.deps.items()):
            if dep.due > now:
                continue
            if dep.renewable and dep.lease_id:
                try:
                    resp = await self.client.request(
                        "PUT", "sys/leases/renew", token=self.token, data={"lease_id": dep.lease_id}
                    )
                    duration = float((resp or {}).get("lease_duration") or 0)
                    if duration >= dep.lease_duration * 0.5 and duration > 0:
                        dep.lease_duration = duration
                        dep.due = self._due_time({**dep.body, "lease_duration": duration})
                        continue
                except Exception as exc:
                    runner_log.warning(kv(f"(view) lease renewal failed for {key[1]}, re-reading", error=exc))
            del self.deps[key]

    def _render_all(self) -> list[tuple[Template, str]]:
        """Run every template (in a worker thread: ``secret`` blocks on the event loop)."""
        out = []
        for tpl in self.templates:
            renderer = Renderer(
                {"secret": self.secret, "secrets": self.secrets},
                error_on_missing_key=tpl.cfg.error_on_missing_key,
            )
            try:
                out.append((tpl, renderer.render(tpl.nodes, name=tpl.name)))
            except TemplateError as exc:
                cause = exc.__cause__ or exc.__context__
                if isinstance(cause, FetchError):
                    raise cause from None
                raise
        return out

    async def _write(self, tpl: Template, content: str) -> None:
        dest = tpl.cfg.destination
        try:
            with open(dest, encoding="utf-8") as fh:
                if fh.read() == content:
                    return
        except (OSError, UnicodeDecodeError):
            pass
        directory = os.path.dirname(dest) or "."
        if tpl.cfg.create_dest_dirs:
            os.makedirs(directory, mode=0o755, exist_ok=True)
        perms = tpl.cfg.perms
        if perms is None:
            try:
                perms = os.stat(dest).st_mode & 0o7777
            except OSError:
                perms = 0o644
        if tpl.cfg.backup and os.path.exists(dest):
            shutil.copy2(dest, dest + ".bak")
        tmp = os.path.join(directory, f".{os.path.basename(dest)}.{os.urandom(4).hex()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(content)
            os.chmod(tmp, perms)
            os.replace(tmp, dest)
        except BaseException:
            try:
                os.remove(tmp)
            except OSError:
                pass
            raise
        runner_log.info(f'(runner) rendered "{tpl.name}" => "{dest}"')
        if tpl.cfg.command:
            await self._run_command(tpl)

    async def _run_command(self, tpl: Template) -> None:
        runner_log.info(
            f'(runner) executing command "{tpl.cfg.command}" from "{tpl.name}" => "{tpl.cfg.destination}"'
        )
        try:
            proc = await asyncio.create_subprocess_exec(*tpl.cfg.command, stdin=asyncio.subprocess.DEVNULL)
        except OSError as exc:
            runner_log.error(kv("(runner) error executing command", error=exc))
            return
        try:
            async with asyncio.timeout(tpl.cfg.command_timeout):
                code = await proc.wait()
        except TimeoutError:
            proc.kill()
            runner_log.error(kv("(runner) command timed out", timeout=f"{tpl.cfg.command_timeout:g}s"))
            return
        if code != 0:
            runner_log.error(kv("(runner) command failed", exit_code=code))

    async def run(self, once: bool = False) -> None:
        self.loop = asyncio.get_running_loop()
        runner_log.info(f"(runner) creating new runner (dry: false, once: {str(once).lower()})")
        runner_log.info("(runner) starting")
        try:
            await self._loop(once)
        finally:
            self.stopped.set()

    async def _loop(self, once: bool) -> None:
        attempt = 0
        while True:
            try:
                await self._refresh_due()
                results = await asyncio.to_thread(self._render_all)
                for tpl, content in results:
                    await self._write(tpl, content)
                attempt = 0
            except (FetchError, TemplateError, OSError) as exc:
                attempt += 1
                if self.settings.exit_on_retry_failure and attempt > self.num_retries:
                    raise TemplateFatalError(str(exc)) from None
                delay = min(0.25 * 2 ** (attempt - 1), 60.0)
                runner_log.warning(
                    f'(view) {exc} (retry attempt {attempt} after "{format_go_duration(delay)}")'
                )
                await asyncio.sleep(delay)
                continue
            if once:
                return
            now = time.monotonic()
            due = min(
                (d.due for d in self.deps.values()), default=now + self.settings.static_secret_render_interval
            )
            await asyncio.sleep(max(due - now, 0.05))


def _go_dur(seconds: float) -> str:
    return format_go_duration(seconds)


def _dumps(body: Any) -> bytes:
    return orjson.dumps(body)


class TemplateServer:
    """Restart the runner on each new token; ``once`` renders a single time (exit_after_auth)."""

    def __init__(
        self,
        client: Client,
        sub: Subscription,
        templates: list[Template],
        settings: TemplateGlobals,
        *,
        once: bool = False,
        num_retries: int = 12,
    ) -> None:
        self.client = client
        self.sub = sub
        self.templates = templates
        self.settings = settings
        self.once = once
        self.num_retries = num_retries

    async def run(self) -> None:
        log.info("starting template server")
        runner_task: asyncio.Task[None] | None = None
        try:
            if not self.templates:
                log.info("no templates found")
                return
            next_token: asyncio.Task[str] = asyncio.ensure_future(self.sub.next())
            while True:
                waiting: set[asyncio.Future[Any]] = {next_token}
                if runner_task is not None:
                    waiting.add(runner_task)
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if runner_task is not None and runner_task in done:
                    runner_task.result()  # raises TemplateFatalError
                    if self.once:
                        next_token.cancel()
                        return
                    runner_task = None
                if next_token in done:
                    token = next_token.result()
                    log.info("template server received new token")
                    if runner_task is not None:
                        runner_log.info("(runner) stopping")
                        runner_task.cancel()
                        try:
                            await runner_task
                        except asyncio.CancelledError:
                            pass
                    runner = Runner(
                        self.client, token, self.templates, self.settings, num_retries=self.num_retries
                    )
                    runner_task = asyncio.ensure_future(runner.run(once=self.once))
                    next_token = asyncio.ensure_future(self.sub.next())
        finally:
            if runner_task is not None and not runner_task.done():
                runner_log.info("(runner) stopping")
                runner_task.cancel()
            log.info("template server stopped")
