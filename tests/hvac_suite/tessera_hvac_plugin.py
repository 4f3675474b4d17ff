"""pytest plugin loaded into hvac's own test run (``-p tessera_hvac_plugin``): point it at our server.

hvac's ``tests.utils.server_manager.ServerManager`` starts ``vault server -config=vault-tls.hcl`` and
its callers then ``initialize()`` (5 shares, threshold 3) and ``unseal()`` through hvac. We keep those
two (they are part of what is tested) and replace how the process starts and stops: Tessera (or, with
``HVAC_SUITE_TARGET=reference``, the reference ``bao``) with ``tessera-tls.hcl`` (inmem storage, TLS
with hvac's test certificates) on a free port. hvac's version checks ask ``vault -version``: against
Tessera that is Tessera's CLI under Vault's name (put on PATH by ``prepare.suite_env``), which says
the Vault version Tessera answers as; against the reference (OpenBao says 2.x) we answer
``HVAC_SUITE_VAULT_VERSION`` (default 1.16.3). Generated root tokens are decoded in Python instead
of with ``vault operator generate-root -decode``.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import SkipTest

import pytest

TARGET = os.environ.get("HVAC_SUITE_TARGET", "tessera")
VAULT_VERSION = os.environ.get("HVAC_SUITE_VAULT_VERSION", "1.16.3")
LOG_DIR = os.environ.get("HVAC_SUITE_LOG_DIR", "")
# Node-ID prefix -> reason: tests known to fail against this target (see selection.py).
EXPECTED_FAILURES: dict[str, str] = json.loads(os.environ.get("HVAC_SUITE_XFAIL") or "{}")
CONFIG_TEMPLATE = Path(__file__).resolve().with_name("tessera-tls.hcl")
HELPERS_DIR = Path(__file__).resolve().parents[1] / "helpers"


def _servers_module() -> ModuleType:
    """Our ``tests/helpers`` package, loaded under another name: here ``tests`` is hvac's package."""
    name = "tessera_test_helpers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, HELPERS_DIR / "__init__.py", submodule_search_locations=[str(HELPERS_DIR)]
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return importlib.import_module(f"{name}.servers")


# OpenBao 2.5+ (and Tessera) turned off the unauthenticated sys/rekey/* and sys/generate-root/* endpoints
# by default; hvac's tests (and Vault) expect them, so both servers get them back.
REFERENCE_LISTENER_EXTRA = (
    "  disable_unauthed_rekey_endpoints         = false\n  disable_unauthed_generate_root_endpoints = false\n"
)


def render_config(template: str, port: int, config_files_dir: str, *, listener_extra: str = "") -> str:
    """The template with the listener on 127.0.0.1:port and hvac's relative cert paths made absolute."""
    text = re.sub(r'(?m)^(\s*address\s*=\s*)"[^"]*"', rf'\g<1>"127.0.0.1:{port}"', template, count=1)
    if listener_extra:
        text = re.sub(r'(?m)^(listener\s+"tcp"\s*\{\n)', lambda m: m.group(1) + listener_extra, text, count=1)
    return text.replace('"tests/config_files/', f'"{config_files_dir.rstrip("/")}/')


def decode_generated_root_token(encoded_token: str, otp: str, url: str | None = None) -> str:
    """What ``vault operator generate-root -decode`` prints: base64 (no padding) of token XOR OTP."""
    raw = base64.b64decode(encoded_token + "=" * (-len(encoded_token) % 4))
    return bytes(a ^ b for a, b in zip(raw, otp.encode(), strict=False)).decode()


def reference_generate_root_otp() -> str:
    """OpenBao's root tokens are ``s.`` + 24 characters, so its OTPs have 26 (Vault 1.10+: ``hvs.``, 28)."""
    return "ygs0vL8GIxu0AjRVEmJ5jLCVq8"


def _start_vault(self: Any, *, consul_config: Any = None, **_: Any) -> None:
    """Replacement for ``ServerManager.start_vault``: one server per config path, ours."""
    from tests.utils import create_client, get_config_file_path

    if consul_config is not None or self.use_consul or len(self.config_paths) != 1:
        raise SkipTest("Vault HA (consul, several nodes) is not part of Tessera's hvac harness")
    servers_mod = _servers_module()
    workdir = Path(tempfile.mkdtemp(prefix="hvac-suite-"))
    port = servers_mod.free_port(span=2)
    config = workdir / "server.hcl"
    extra = REFERENCE_LISTENER_EXTRA  # both servers hide them by default since OpenBao 2.5
    config.write_text(
        render_config(CONFIG_TEMPLATE.read_text(), port, get_config_file_path(), listener_extra=extra)
    )
    server_class = servers_mod.ReferenceServer if TARGET == "reference" else servers_mod.TesseraServer
    server = server_class(config=config, ca_cert=get_config_file_path("server-cert.pem"), cwd=os.getcwd())
    self._tessera_servers = [*getattr(self, "_tessera_servers", []), server]
    self._tessera_workdirs = [*getattr(self, "_tessera_workdirs", []), workdir]
    server.start()
    self.active_config_paths = [str(config)]
    if self.client is None:
        self.client = create_client(url=server.addr)


def _stop(self: Any) -> None:
    """Replacement for ``ServerManager.stop``: stop our servers, keep their output if asked to."""
    self.client = None
    for server in getattr(self, "_tessera_servers", []):
        server.stop()
        if LOG_DIR:
            Path(LOG_DIR).mkdir(parents=True, exist_ok=True)
            name = f"{server.name}-{os.getpid()}-{server.port}.log"
            (Path(LOG_DIR) / name).write_text(server.output())
        server.cleanup()
    for workdir in getattr(self, "_tessera_workdirs", []):
        shutil.rmtree(workdir, ignore_errors=True)
    self._tessera_servers = []
    self._tessera_workdirs = []


def _no_consul(self: Any) -> str:
    raise SkipTest("consul is not part of Tessera's hvac harness")


def install() -> None:
    """Patch hvac's test utilities; must run before the test modules are imported (their skipIfs)."""
    from tests import utils
    from tests.utils import server_manager

    if TARGET not in ("tessera", "reference"):
        raise pytest.UsageError(f"HVAC_SUITE_TARGET must be tessera or reference, not {TARGET!r}")
    if TARGET == "reference":
        utils.get_vault_version_string.cache = VAULT_VERSION  # type: ignore[attr-defined]
    utils.decode_generated_root_token = decode_generated_root_token
    if TARGET == "reference":
        utils.get_generate_root_otp = reference_generate_root_otp
    server_manager.ServerManager.start_vault = _start_vault  # type: ignore[method-assign]
    server_manager.ServerManager.stop = _stop  # type: ignore[method-assign]
    server_manager.ServerManager.start_consul = _no_consul  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    """Install the patches before collection."""
    install()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Known failures become strict xfails: one that starts to pass fails the run, to be struck off."""
    for item in items:
        for prefix, reason in EXPECTED_FAILURES.items():
            if item.nodeid.startswith(prefix):
                item.add_marker(pytest.mark.xfail(reason=reason, strict=True))


def pytest_report_header(config: pytest.Config) -> str:
    """Say what the suite runs against."""
    from tests import utils

    return f"hvac suite target: {TARGET} (as Vault {utils.get_vault_version_string()})"
