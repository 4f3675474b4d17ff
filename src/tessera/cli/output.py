"""Rendering responses as the Vault CLI does: Key/Value tables, JSON, YAML and single fields.

Tables come from ``columnize`` (4-space glue, empty cells as ``n/a``, the header underlined with
dashes), secret data keys are sorted and values printed with Go's ``%v``, keys that look like TTLs are
humanised (``768h``), and warnings go to stderr before the table.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from ..gocompat.durations import human_duration
from ..gocompat.quote import go_quote_list
from . import gojson, goyaml
from .flags import wrap_with_padding
from .gojson import Number, Struct, fmt_v

HOPE_DELIM = "♨"
FORMATS = ("table", "json", "yaml", "yml", "pretty", "raw")


@dataclass
class UI:
    """Where output goes and in which format; mirrors the CLI's VaultUI."""

    format: str = "table"
    detailed: bool = False
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)

    def output(self, text: str) -> None:
        self.stdout.write(text + "\n")

    info = output

    def error(self, text: str) -> None:
        self.stderr.write(text + "\n")

    warn = error

    def raw(self, text: str) -> None:
        self.stdout.write(text)


@dataclass
class Secret:
    """api.Secret: the response envelope as the Go client decodes it."""

    request_id: str = ""
    lease_id: str = ""
    lease_duration: int = 0
    renewable: bool = False
    data: dict[str, Any] | None = None
    warnings: list[str] | None = None
    auth: Struct | None = None
    wrap_info: Struct | None = None

    @classmethod
    def parse(cls, body: Any) -> Secret | None:
        """api.ParseSecret on an already decoded body (None for an empty body)."""
        if body is None:
            return None
        if not isinstance(body, dict):
            raise ValueError("json: cannot unmarshal array into Go value of type api.Secret")
        sec = cls(
            request_id=_s(body.get("request_id")),
            lease_id=_s(body.get("lease_id")),
            lease_duration=_i(body.get("lease_duration")),
            renewable=bool(body.get("renewable") or False),
            data=body.get("data") if isinstance(body.get("data"), dict) else None,
            warnings=list(body["warnings"]) if isinstance(body.get("warnings"), list) else None,
            auth=_auth(body.get("auth")) if isinstance(body.get("auth"), dict) else None,
            wrap_info=_wrap(body.get("wrap_info")) if isinstance(body.get("wrap_info"), dict) else None,
        )
        if sec.is_empty() and "data" not in body:
            if "errors" in body:
                if len(body) == 1:
                    return None
                raise ValueError(" ".join(str(e) for e in body.get("errors") or []))
            if body:
                sec.data = dict(body)
        return sec

    def is_empty(self) -> bool:
        return not (
            self.request_id
            or self.lease_id
            or self.lease_duration
            or self.renewable
            or self.data is not None
            or self.warnings is not None
            or self.auth is not None
            or self.wrap_info is not None
        )

    def to_struct(self) -> Struct:
        """The object ``-format=json`` prints (auth and wrap_info omitted when absent)."""
        out = Struct(
            request_id=self.request_id,
            lease_id=self.lease_id,
            lease_duration=self.lease_duration,
            renewable=self.renewable,
            data=self.data,
            warnings=self.warnings,
        )
        if self.auth is not None:
            out["auth"] = self.auth
        if self.wrap_info is not None:
            out["wrap_info"] = self.wrap_info
        return out


def _s(v: Any) -> str:
    return v if isinstance(v, str) else ""


def _i(v: Any) -> int:
    if isinstance(v, bool):
        return 0
    if isinstance(v, int):
        return v
    if isinstance(v, Number):
        try:
            return int(float(v.text))
        except ValueError:
            return 0
    return 0


def _strs(v: Any) -> list[str] | None:
    return [str(x) for x in v] if isinstance(v, list) else None


def _auth(a: dict[str, Any]) -> Struct:
    meta = a.get("metadata")
    return Struct(
        client_token=_s(a.get("client_token")),
        accessor=_s(a.get("accessor")),
        policies=_strs(a.get("policies")),
        token_policies=_strs(a.get("token_policies")),
        identity_policies=_strs(a.get("identity_policies")),
        metadata={str(k): fmt_v(v) for k, v in meta.items()} if isinstance(meta, dict) else None,
        orphan=bool(a.get("orphan") or False),
        entity_id=_s(a.get("entity_id")),
        lease_duration=_i(a.get("lease_duration")),
        renewable=bool(a.get("renewable") or False),
        mfa_requirement=a.get("mfa_requirement"),
    )


def _wrap(w: dict[str, Any]) -> Struct:
    return Struct(
        token=_s(w.get("token")),
        accessor=_s(w.get("accessor")),
        ttl=_i(w.get("ttl")),
        creation_time=_s(w.get("creation_time")) or "0001-01-01T00:00:00Z",
        creation_path=_s(w.get("creation_path")),
        wrapped_accessor=_s(w.get("wrapped_accessor")),
    )


# -- durations and columns --------------------------------------------------------------------------


def looks_like_duration(key: str) -> bool:
    """Keys whose integer values the CLI prints as durations."""
    return key in ("period", "ttl", "duration", "lease_max", "ttl_max") or key.endswith(
        ("_period", "_ttl", "_duration")
    )


def human_duration_value(value: Any) -> Any:
    """humanDurationInt: integers (json numbers) become ``768h``; anything else is unchanged."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return human_duration(value)
    return value


def columnize(lines: list[str], delim: str = "|", glue: str = "    ", empty: str = "n/a") -> str:
    """github.com/ryanuber/columnize.Format with the CLI's defaults."""
    if not lines:
        return ""
    rows = []
    for line in lines:
        cells = [c.strip() for c in line.split(delim)]
        rows.append([c if c else empty for c in cells])
    widths: list[int] = []
    for cells in rows:
        for i, c in enumerate(cells):
            if i >= len(widths):
                widths.append(len(c))
            else:
                widths[i] = max(widths[i], len(c))
    out = []
    for cells in rows:
        parts = [c.ljust(widths[i]) + glue for i, c in enumerate(cells[:-1])]
        out.append("".join(parts) + cells[-1])
    return "\n".join(out).strip()


def table_output(lines: list[str], delim: str = "|") -> str:
    """tableOutput: the first line is the header and gets a dashed underline."""
    if not lines:
        return ""
    headers = lines[0].split(delim)
    underline = delim.join("-" * len(h.strip()) for h in headers)
    return columnize([lines[0], underline, *lines[1:]], delim=delim)


# -- formatters ---------------------------------------------------------------------------------------


def print_warnings(ui: UI, secret: Secret | None) -> None:
    """Warnings to stderr, wrapped at 78 columns with two spaces of padding."""
    if secret is not None and secret.warnings:
        ui.warn("WARNING! The following warnings were returned from Vault:\n")
        for warning in secret.warnings:
            ui.warn(wrap_with_padding(f"* {warning}", 2))
            ui.warn("")


def secret_table(ui: UI, secret: Secret) -> None:
    """TableFormatter.OutputSecret."""
    print_warnings(ui, secret)
    d = HOPE_DELIM
    out: list[str] = []
    if secret.lease_duration > 0:
        if secret.lease_id:
            out.append(f"lease_id {d} {secret.lease_id}")
            out.append(f"lease_duration {d} {human_duration(secret.lease_duration)}")
            out.append(f"lease_renewable {d} {'true' if secret.renewable else 'false'}")
        else:
            out.append(f"refresh_interval {d} {human_duration(secret.lease_duration)}")
    auth = secret.auth
    if auth is not None:
        if auth.get("mfa_requirement"):
            mfa = auth["mfa_requirement"]
            out.append(f"mfa_request_id {d} {fmt_v(mfa.get('mfa_request_id', ''))}")
        else:
            out.append(f"token {d} {auth['client_token']}")
            out.append(f"token_accessor {d} {auth['accessor']}")
            if auth["lease_duration"] == 0:
                out.append(f"token_duration {d} ∞")
            else:
                out.append(f"token_duration {d} {human_duration(auth['lease_duration'])}")
            out.append(f"token_renewable {d} {'true' if auth['renewable'] else 'false'}")
            out.append(f"token_policies {d} {go_quote_list(auth['token_policies'])}")
            out.append(f"identity_policies {d} {go_quote_list(auth['identity_policies'])}")
            out.append(f"policies {d} {go_quote_list(auth['policies'])}")
            for k in sorted(auth["metadata"] or {}):
                out.append(f"token_meta_{k} {d} {auth['metadata'][k]}")
    wrap = secret.wrap_info
    if wrap is not None:
        out.append(f"wrapping_token: {d} {wrap['token']}")
        out.append(f"wrapping_accessor: {d} {wrap['accessor']}")
        out.append(f"wrapping_token_ttl: {d} {human_duration(wrap['ttl'])}")
        out.append(f"wrapping_token_creation_time: {d} {go_time_string(wrap['creation_time'])}")
        out.append(f"wrapping_token_creation_path: {d} {wrap['creation_path']}")
        if wrap["wrapped_accessor"]:
            out.append(f"wrapped_accessor: {d} {wrap['wrapped_accessor']}")
    out.extend(_map_rows(secret.data or {}))
    if not out:
        return
    ui.output(table_output(["Key" + d + "Value", *out], delim=d))


def _map_rows(data: dict[str, Any]) -> list[str]:
    rows = []
    for k in sorted(data):
        v = data[k]
        if looks_like_duration(k):
            v = human_duration_value(v)
        rows.append(f"{k} {HOPE_DELIM} {fmt_v(v)}")
    return rows


def map_table(ui: UI, data: dict[str, Any]) -> None:
    """TableFormatter.OutputMap."""
    rows = _map_rows(data)
    if rows:
        ui.output(table_output(["Key" + HOPE_DELIM + "Value", *rows], delim=HOPE_DELIM))


def list_table(ui: UI, secret: Secret | None, keys: list[Any]) -> int:
    """TableFormatter.OutputList: ``Keys`` + underline + sorted keys."""
    print_warnings(ui, secret)
    if not keys:
        return 0
    for k in keys:
        if not isinstance(k, str):
            ui.error(f"Could not parse output: {fmt_v(k)} is not a string")
            return 1
    ui.output(table_output(["Keys", *sorted(keys)], delim=HOPE_DELIM))
    return 0


def render(data: Any, fmt: str) -> str:
    """Serialise for -format=json|yaml."""
    if fmt == "json":
        return gojson.dumps(data)
    return goyaml.dumps(data)


def output_secret(ui: UI, secret: Secret | None) -> int:
    """OutputSecret."""
    fmt = ui.format
    if fmt not in FORMATS:
        ui.error(f"Invalid output format: {fmt}")
        return 1
    if fmt == "table":
        if secret is not None:
            secret_table(ui, secret)
        return 0
    return output_data(ui, secret.to_struct() if secret is not None else None)


def output_data(ui: UI, data: Any, table: Any = None) -> int:
    """OutputData: JSON/YAML of the value, or its table (``table`` renders the table form)."""
    fmt = ui.format
    if fmt not in FORMATS:
        ui.error(f"Invalid output format: {fmt}")
        return 1
    if fmt in ("json", "yaml", "yml"):
        ui.output(render(data, "json" if fmt == "json" else "yaml"))
        return 0
    if fmt == "raw":
        if isinstance(data, (bytes, bytearray)):
            ui.output(data.decode("utf-8", "replace"))
            return 0
        ui.error(
            "Could not parse output: This command does not support the -format=raw option; only `tessera read` does."
        )
        return 1
    if fmt == "pretty":
        ui.error("Could not parse output: cannot use the pretty formatter for this type")
        return 1
    if table is not None:
        table()
        return 0
    if isinstance(data, dict):
        map_table(ui, data)
        return 0
    if isinstance(data, list):
        if all(isinstance(v, str) for v in data):
            ui.output(columnize(list(data)))
            return 0
        return list_table(ui, None, data)
    ui.error("Could not parse output: cannot use the table formatter for this type")
    return 1


def output_list(ui: UI, secret: Secret) -> int:
    """OutputList of a LIST response (``-detailed`` JSON shows the whole response)."""
    keys = (secret.data or {}).get("keys") or []
    fmt = ui.format
    if fmt == "table":
        return list_table(ui, secret, keys)
    if fmt in ("json", "yaml", "yml") and ui.detailed:
        return output_data(ui, secret.to_struct())
    return output_data(ui, keys)


def raw_secret_field(secret: Secret, name: str) -> Any:
    """RawSecretField: auth/wrap fields by their table names, else data."""
    data = secret.data or {}
    if secret.auth is not None:
        a = secret.auth
        mapping = {
            "token": a["client_token"],
            "token_accessor": a["accessor"],
            "token_duration": a["lease_duration"],
            "token_renewable": a["renewable"],
            "token_policies": a["token_policies"],
            "identity_policies": a["identity_policies"],
            "policies": a["policies"],
        }
        return mapping[name] if name in mapping else data.get(name)
    if secret.wrap_info is not None:
        w = secret.wrap_info
        mapping = {
            "wrapping_token": w["token"],
            "wrapping_accessor": w["accessor"],
            "wrapping_token_ttl": w["ttl"],
            "wrapping_token_creation_time": w["creation_time"],
            "wrapping_token_creation_path": w["creation_path"],
            "wrapped_accessor": w["wrapped_accessor"],
        }
        return mapping[name] if name in mapping else data.get(name)
    mapping = {
        "lease_duration": secret.lease_duration,
        "lease_id": secret.lease_id,
        "request_id": secret.request_id,
        "renewable": secret.renewable,
        "refresh_interval": secret.lease_duration,
    }
    if name in mapping:
        return mapping[name]
    if name == "data":
        return data.get("data", secret.data)
    return data.get(name)


def print_raw_field(ui: UI, data: Any, name: str, type_name: str = "") -> int:
    """PrintRawField: the bare value (no newline when stdout is not a terminal)."""
    if isinstance(data, Secret):
        type_name = "secret"
        val = raw_secret_field(data, name)
    else:
        type_name = type_name or "map"
        val = data.get(name) if isinstance(data, dict) else None
    if val is None:
        ui.error(f'Field "{name}" not present in {type_name}')
        return 1
    fmt = ui.format
    if isinstance(data, Secret) and fmt == "table":
        print_warnings(ui, data)
    if fmt in ("", "table", "raw"):
        return print_raw(ui, fmt_v(val))
    if fmt not in FORMATS:
        ui.error(f"Invalid output format: {fmt}")
        return 1
    if fmt == "pretty":
        return print_raw(ui, "")
    return print_raw(ui, render(val, "json" if fmt == "json" else "yaml") + ("\n" if fmt != "json" else ""))


def print_raw(ui: UI, text: str) -> int:
    """PrintRaw: a newline only when writing to a terminal, so pipes get the bare value."""
    if _color_enabled(ui.stdout):
        ui.output(text)
    else:
        ui.raw(text)
    return 0


def _color_enabled(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR") is not None or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def go_time_string(rfc3339: str) -> str:
    """time.Time.String() of an RFC 3339 timestamp: ``2026-11-23 07:25:33.740322092 +0000 UTC``."""
    text = rfc3339
    if "T" not in text:
        return text
    date, _, rest = text.partition("T")
    zone = "+0000 UTC"
    clock = rest
    if rest.endswith("Z"):
        clock = rest[:-1]
    elif len(rest) > 6 and rest[-6] in "+-" and rest[-3] == ":":
        clock, off = rest[:-6], rest[-6:]
        zone = f"{off[:3]}{off[4:]} {off[:3]}{off[4:]}" if off != "+00:00" else "+0000 UTC"
    if "." in clock:
        main, frac = clock.split(".", 1)
        frac = frac.rstrip("0")
        clock = f"{main}.{frac}" if frac else main
    return f"{date} {clock} {zone}"
