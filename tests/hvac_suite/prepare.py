"""Fetch hvac's own integration tests (from its sdist on PyPI) into ``.hvac-tests/``, and run them.

hvac's code is not ours to commit, so it is downloaded on first use: ``pip download`` of the sdist,
then only its ``tests/`` tree is extracted (the installed ``hvac`` is the library under test). hvac's
tests need ``parameterized``, which is installed into ``.hvac-tests/site`` when it is missing.

By hand::

    python -m tests.hvac_suite.prepare                 # prepare, print the root
    python -m tests.hvac_suite.prepare --run [MODULE]  # run modules (default: the selected ones)
    HVAC_SUITE_TARGET=reference python -m tests.hvac_suite.prepare --run

``HVAC_SDIST=/path/hvac-2.4.0.tar.gz`` uses a local sdist instead of downloading one.
"""

from __future__ import annotations

import argparse
import fcntl
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

HVAC_VERSION = os.environ.get("HVAC_SUITE_VERSION", "2.4.0")
PARAMETERIZED = "parameterized==0.9.0"
SUITE_DIR = Path(__file__).resolve().parent
REPO_ROOT = SUITE_DIR.parents[1]
CACHE_DIR = REPO_ROOT / ".hvac-tests"
PLUGIN = "tessera_hvac_plugin"
TARGETS = ("tessera", "reference")

PYTEST_INI = """\
# Written by Tessera's tests/hvac_suite/prepare.py. hvac's tests run with Tessera's plugin
# (-p tessera_hvac_plugin) instead of hvac's own pyproject settings (which add -n auto).
[pytest]
addopts = -p no:cacheprovider
"""


class PrepareError(RuntimeError):
    """The sdist could not be downloaded or unpacked."""


@contextmanager
def _locked(cache_dir: Path) -> Iterator[None]:
    """One preparer at a time (xdist workers start together)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run(cmd: Sequence[str]) -> None:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise PrepareError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def _sdist(cache_dir: Path) -> Path:
    local = os.environ.get("HVAC_SDIST")
    if local:
        return Path(local)
    dist = cache_dir / "dist"
    path = dist / f"hvac-{HVAC_VERSION}.tar.gz"
    if not path.exists():
        dist.mkdir(parents=True, exist_ok=True)
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"hvac=={HVAC_VERSION}",
                "-d",
                str(dist),
            ]
        )
    if not path.exists():
        raise PrepareError(f"pip download did not produce {path}")
    return path


def _extract_tests(sdist: Path, root: Path) -> None:
    """Unpack ``hvac-X/tests/**`` of the sdist into ``root/tests`` (atomically: via a temporary dir)."""
    prefix = f"hvac-{HVAC_VERSION}/"
    staging = Path(tempfile.mkdtemp(prefix="extract-", dir=root.parent))
    try:
        with tarfile.open(sdist) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(prefix + "tests/")]
            if not members:
                raise PrepareError(f"{sdist} has no tests/ directory")
            tar.extractall(staging, members=members, filter="data")
        unpacked = staging / f"hvac-{HVAC_VERSION}"
        (unpacked / "pytest.ini").write_text(PYTEST_INI)
        shutil.rmtree(root, ignore_errors=True)
        unpacked.rename(root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def site_dir(cache_dir: Path = CACHE_DIR) -> Path:
    """Where hvac's extra test dependencies go when this Python lacks them."""
    return cache_dir / "site"


def _ensure_test_dependencies(cache_dir: Path) -> None:
    if importlib.util.find_spec("parameterized") is not None:
        return
    site = site_dir(cache_dir)
    if (site / "parameterized").is_dir():
        return
    _run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), PARAMETERIZED]
    )


def prepare(cache_dir: Path = CACHE_DIR) -> Path:
    """Download and unpack hvac's tests once; returns the root to run them from (it holds ``tests/``)."""
    root = cache_dir / f"hvac-{HVAC_VERSION}"
    marker = root / ".prepared"
    with _locked(cache_dir):
        if not marker.exists():
            _extract_tests(_sdist(cache_dir), root)
            marker.write_text(HVAC_VERSION + "\n")
        _ensure_test_dependencies(cache_dir)
    return root


def suite_env(
    root: Path,
    target: str,
    *,
    expected_failures: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment for a pytest run of hvac's tests: import paths, target, expected failures, log dir."""
    if target not in TARGETS:
        raise ValueError(f"HVAC_SUITE_TARGET must be one of {TARGETS}, not {target!r}")
    env = dict(os.environ if base is None else base)
    paths = [str(root), str(SUITE_DIR), str(site_dir(root.parent))]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["HVAC_SUITE_TARGET"] = target
    env["HVAC_SUITE_XFAIL"] = json.dumps(dict(expected_failures or {}))
    for name in [k for k in env if k.startswith(("VAULT_", "BAO_"))]:
        del env[name]  # hvac.Client reads VAULT_ADDR/VAULT_TOKEN; the suite sets its own
    if log_dir is not None:
        env["HVAC_SUITE_LOG_DIR"] = str(log_dir)
    if target == "tessera":
        # hvac learns the server's version from `vault -version`: Tessera's CLI named `vault` says it.
        env["PATH"] = os.pathsep.join([str(vault_cli(root.parent)), env.get("PATH", "")])
    return env


def vault_cli(cache_dir: Path) -> Path:
    """A directory holding ``vault``: Tessera's CLI under Vault's name (see cli/commands/misc.py)."""
    bin_dir = cache_dir / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "vault"
    script.write_text(
        f"#!{sys.executable}\nimport sys\nfrom tessera.cli.main import main\nsys.exit(main())\n"
    )
    script.chmod(0o755)
    return bin_dir


def suite_command(root: Path, modules: Sequence[str], *, deselect: Sequence[str] = ()) -> list[str]:
    """The pytest command (run it with cwd=root) for some of hvac's test modules or node IDs."""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(root / "pytest.ini"),
        "--rootdir",
        str(root),
        "-p",
        PLUGIN,
        "-q",
        "-rfEs",
        "--no-header",
    ]
    for nodeid in deselect:
        cmd += ["--deselect", nodeid]
    return cmd + list(modules)


def main(argv: Sequence[str] | None = None) -> int:
    """Prepare; with ``--run``, run modules against ``HVAC_SUITE_TARGET`` (default tessera)."""
    from .selection import KNOWN_FAILURES, SELECTED

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", action="store_true", help="run the modules after preparing")
    parser.add_argument(
        "modules", nargs="*", help="module paths or node IDs under tests/ (default: selected)"
    )
    args = parser.parse_args(argv)
    root = prepare()
    print(root)
    if not args.run:
        return 0
    target = os.environ.get("HVAC_SUITE_TARGET", "tessera")
    modules = args.modules or list(SELECTED)
    env = suite_env(root, target, expected_failures=KNOWN_FAILURES.get(target, {}))
    return subprocess.call(suite_command(root, modules), cwd=root, env=env)


if __name__ == "__main__":
    sys.exit(main())
