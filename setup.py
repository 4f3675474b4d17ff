"""Tessera's build: pure Python, or the request path compiled to C with mypyc (opt-in).

The package metadata is in pyproject.toml; this file only adds the compiled modules. mypyc (the
compiler black and mypy are built with) turns the typed modules a request runs through into C
extensions: ~28% fewer instructions per batch-token request (docs/performance.md, round seven).
The same sources run uncompiled, and that stays the default:

- ``TESSERA_COMPILE=1``: compile, and fail the build if that fails. Experimental: the test suite
  does not pass against the compiled build yet (docs/performance.md lists what fails and why).
- unset or ``0``: pure Python, as before.

Compiling in place (``TESSERA_COMPILE=1 pip install -e .``, or ``TESSERA_COMPILE=1 python
setup.py build_ext --inplace`` as ``python -m bench.instructions --tree`` needs) puts each
module's extension beside its ``.py``, where Python imports the extension first: an edited
``.py`` would silently not run. Such a build writes ``src/tessera/_compiled.json`` (the SHA-256
of every compiled source), and ``import tessera`` refuses to run when a source no longer matches
(``tessera/__init__.py``); ``python setup.py build_ext --inplace`` without the variable removes
the extensions again. ``python -m tessera.version`` says whether a build is compiled.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"

# The modules a request runs through (bench/instructions.py's paths: the HTTP front and app,
# the pipeline, tokens, the barrier, storage, policies, AppRole, JWT, KV v1, audit), relative to
# src/. Everything else stays Python: compiling it would cost build time for no request's gain.
COMPILED = [
    "tessera/framework/*.py",
    "tessera/gocompat/*.py",
    "tessera/routing/*.py",
    "tessera/barrier/*.py",
    "tessera/tokens/*.py",
    "tessera/policy/*.py",
    "tessera/storage/base.py",
    "tessera/storage/inmem.py",
    "tessera/telemetry/metrics.py",
    "tessera/core/access.py",
    "tessera/core/core.py",
    "tessera/core/host.py",
    "tessera/core/lockout.py",
    "tessera/core/matching.py",
    "tessera/core/mount_table.py",
    "tessera/core/pipeline.py",
    "tessera/core/prepared.py",
    "tessera/core/recording.py",
    "tessera/core/telemetry.py",
    "tessera/leases/manager.py",
    "tessera/audit/broker.py",
    "tessera/audit/hashing.py",
    "tessera/audit/trail.py",
    "tessera/auth/parsed.py",
    "tessera/auth/token_create.py",
    "tessera/auth/tokenutil.py",
    "tessera/auth/approle/login.py",
    "tessera/auth/approle/mount.py",
    "tessera/auth/approle/roles.py",
    "tessera/auth/approle/secret_ids.py",
    "tessera/auth/approle/store.py",
    "tessera/auth/jwt/claims.py",
    "tessera/auth/jwt/config.py",
    "tessera/auth/jwt/keys.py",
    "tessera/auth/jwt/login.py",
    "tessera/auth/jwt/role.py",
    "tessera/secrets/identity.py",
    "tessera/secrets/identity_groups.py",
    "tessera/secrets/identity_store.py",
    "tessera/secrets/kv/common.py",
    "tessera/secrets/kv/v1.py",
    "tessera/server/app.py",
    "tessera/server/dispatch.py",
    "tessera/server/front_connection.py",
    "tessera/server/front_reading.py",
    "tessera/server/http1.py",
    "tessera/server/loop_front.py",
    "tessera/server/quota_http.py",
    "tessera/server/render.py",
]
MANIFEST = "_compiled.json"  # in the package: module -> SHA-256 of the source it was built from


def compiled_sources() -> list[str]:
    """The compiled modules' sources, relative to src/, in a stable order."""
    found: set[str] = set()
    for pattern in COMPILED:
        matches = glob.glob(pattern, root_dir=SRC)
        if not matches:
            raise SystemExit(f"setup.py: {pattern} matches no file under src/")
        found.update(matches)
    return sorted(found)


def manifest(sources: list[str], inplace: bool) -> str:
    modules = {
        src.removesuffix(".py").replace("/", "."): hashlib.sha256((SRC / src).read_bytes()).hexdigest()
        for src in sources
    }
    return json.dumps({"compiler": "mypyc", "inplace": inplace, "modules": modules}, indent=1) + "\n"


class BuildExt(build_ext):
    """Swaps the placeholder for mypyc's extensions (``TESSERA_COMPILE=1``), or for none."""

    def finalize_options(self) -> None:
        self.tessera_compile = os.environ.get("TESSERA_COMPILE", "") == "1"
        self.tessera_inplace = bool(self.inplace or getattr(self, "editable_mode", False))
        extensions: list[Extension] = []
        if self.tessera_compile:
            from mypyc.build import mypycify

            extensions = mypycify(
                [f"--config-file={HERE / 'pyproject.toml'}", *("src/" + s for s in compiled_sources())],
                opt_level=os.environ.get("TESSERA_COMPILE_OPT", "3"),
                # TESSERA_COMPILE_SEPARATE=1: one C file per module (build_ext -j 2 spreads
                # them over the cores, an edit recompiles one module) where the default is a
                # single group, which takes longer to build but lets calls across modules be direct.
                separate=os.environ.get("TESSERA_COMPILE_SEPARATE", "") == "1",
            )
        self.distribution.ext_modules = extensions
        super().finalize_options()

    def run(self) -> None:
        if self.tessera_inplace:
            self._drop_inplace_build()
        if not self.extensions:
            self._drop_built_extensions()
            return
        super().run()
        out = SRC / "tessera" if self.tessera_inplace else Path(self.build_lib) / "tessera"
        out.mkdir(parents=True, exist_ok=True)
        (out / MANIFEST).write_text(manifest(compiled_sources(), self.tessera_inplace))

    def _drop_inplace_build(self) -> None:
        """Before an in-place build, pure or compiled: the extensions of an earlier one go."""
        old = SRC / "tessera" / MANIFEST
        if old.exists():
            for module in json.loads(old.read_text())["modules"]:
                for so in glob.glob(module.replace(".", "/") + ".*.so", root_dir=SRC):
                    (SRC / so).unlink()
            # The group's shared library: one in src/ (a single group), or one beside each
            # module (TESSERA_COMPILE_SEPARATE=1).
            for so in glob.glob("**/*__mypyc.*.so", root_dir=SRC, recursive=True):
                (SRC / so).unlink()
            old.unlink()

    def _drop_built_extensions(self) -> None:
        """A pure build: extensions an earlier compiled build left in build/ must not be installed."""
        lib = Path(self.build_lib)
        for so in [*lib.glob("*__mypyc.*.so"), *lib.glob("tessera/**/*.so"), lib / "tessera" / MANIFEST]:
            so.unlink(missing_ok=True)

    def get_outputs(self) -> list[str]:
        outputs: list[str] = super().get_outputs()
        if self.extensions and not self.tessera_inplace:
            outputs.append(str(Path(self.build_lib) / "tessera" / MANIFEST))
        return outputs


setup(
    # A placeholder: setuptools runs build_ext (and tags the wheel) only for a package with one.
    ext_modules=[Extension("tessera._compiled_placeholder", sources=[])],
    cmdclass={"build_ext": BuildExt},
)
