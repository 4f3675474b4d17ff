"""Go ``flag``-package parsing, as the Vault CLI does it, so every flag spelling users copy works.

Vault parses with Go's ``flag`` package: ``-x=v``, ``-x v``, ``--x=v``; booleans only as ``-x`` or
``-x=false``; parsing stops at the first positional argument (later flags stay arguments and earn a
warning); ``--`` ends the flags. Flags may take their default from an environment variable. The help
text is rendered the same way (``-name=<type>`` then the wrapped usage, sorted by name per group).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..gocompat.durations import format_go_duration, parse_duration_second
from .env import lookup_env

MAX_LINE = 78


class FlagError(Exception):
    """A flag could not be parsed; the message is Go's, verbatim."""


def parse_bool(text: str) -> bool:
    """Go's strconv.ParseBool."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def parse_int(text: str) -> int:
    """Go's strconv.ParseInt(s, 0, 64) as parseutil.SafeParseInt uses it."""
    s = text.strip()
    try:
        if s.lower().startswith(("0x", "-0x", "+0x")):
            return int(s, 16)
        return int(s, 10)
    except ValueError:
        raise ValueError(f'strconv.ParseInt: parsing "{text}": invalid syntax') from None


def parse_uint(text: str) -> int:
    """The Vault CLI's uint flag: strconv.ParseUint(s, 0, 64), with its error text."""
    s = text.strip()
    error = ValueError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    try:
        value = int(s, 16) if s.lower().startswith("0x") else int(s, 10)
    except ValueError:
        raise error from None
    if s.startswith(("+", "-")):
        raise error
    return value


def parse_flag_duration(text: str) -> int:
    """A duration flag value in whole seconds; ``system`` means -1 as in Vault."""
    if text == "system":
        text = "-1"
    return parse_duration_second(text)


@dataclass
class Flag:
    """One flag: its kind decides how values are parsed and how it looks in the help."""

    name: str
    kind: str  # bool | string | int | uint | duration | slice | map | boolptr
    usage: str = ""
    default: Any = None
    env: str = ""
    aliases: tuple[str, ...] = ()
    hidden: bool = False
    value: Any = None
    is_set: bool = False

    def reset(self) -> None:
        """Start from the default, or from the environment variable when it parses."""
        value: Any = self.default
        if self.kind == "slice":
            value = list(self.default or [])
        elif self.kind == "map":
            value = dict(self.default) if self.default else None
        if self.env:
            raw = lookup_env(self.env)
            if raw is not None:
                try:
                    if self.kind == "bool":
                        value = parse_bool(raw)
                    elif self.kind == "int":
                        value = parse_int(raw)
                    elif self.kind == "duration":
                        value = parse_duration_second(raw)
                    elif self.kind == "slice":
                        value = [p.strip() for p in raw.split(",")]
                    elif self.kind == "string":
                        value = raw
                except ValueError:
                    pass
        self.value = value
        self.is_set = False

    def set(self, raw: str) -> None:
        """Apply one occurrence of the flag (repeatable kinds accumulate)."""
        if self.kind in ("bool", "boolptr"):
            self.value = parse_bool(raw)
        elif self.kind == "int":
            self.value = parse_int(raw)
        elif self.kind == "uint":
            self.value = parse_uint(raw)
        elif self.kind == "duration":
            self.value = parse_flag_duration(raw)
        elif self.kind == "slice":
            self.value = [*(self.value or []), raw.strip()]
        elif self.kind == "map":
            key, sep, val = raw.partition("=")
            if not sep:
                raise ValueError(f'missing = in KV pair: "{raw}"')
            self.value = {**(self.value or {}), key: val}
        else:
            self.value = raw
        self.is_set = True

    @property
    def example(self) -> str:
        return {
            "string": "string",
            "int": "int",
            "uint": "uint",
            "duration": "duration",
            "slice": "string",
            "map": "key=value",
            "boolptr": "*bool",
        }.get(self.kind, "")

    def help_default(self) -> str:
        """The default as the help prints it (empty means "not mentioned")."""
        d = self.default
        if self.kind == "bool":
            return "true" if d else "false"
        if self.kind in ("int", "uint"):
            return str(d) if d else ""
        if self.kind == "duration":
            return format_go_duration(d) if d else ""
        if self.kind == "slice":
            return ",".join(d) if d else ""
        if self.kind == "map":
            return ""
        return d or ""


# The default of a flag declared without one, by kind.
KIND_DEFAULTS: dict[str, Any] = {"string": "", "bool": False, "int": 0, "uint": 0, "duration": 0}

#: One row of a flag table: ``(name, kind, usage[, default[, env]])``, or a Flag for anything more.
FlagRow = tuple[Any, ...] | Flag


def flag_from_row(row: FlagRow) -> Flag:
    """A Flag from a table row; a row without a default takes its kind's."""
    if isinstance(row, Flag):
        return dataclasses.replace(row)  # a table's Flag is a template: each command parses its own
    name, kind, usage, *rest = row
    default = rest[0] if rest else KIND_DEFAULTS.get(kind)
    return Flag(name, kind, usage, default, env=rest[1] if len(rest) > 1 else "")


@dataclass
class FlagGroup:
    """A titled group of flags, as the help shows them ("HTTP Options:", "Command Options:")."""

    title: str
    flags: list[Flag] = field(default_factory=list)


class FlagSet:
    """The flags of one command and the Go parsing loop."""

    def __init__(self) -> None:
        self.groups: list[FlagGroup] = []
        self.by_name: dict[str, Flag] = {}
        self.args: list[str] = []

    def group(self, title: str) -> FlagGroup:
        grp = FlagGroup(title)
        self.groups.append(grp)
        return grp

    def add(self, grp: FlagGroup, flag: Flag) -> Flag:
        flag.reset()
        grp.flags.append(flag)
        self.by_name[flag.name] = flag
        for alias in flag.aliases:
            self.by_name[alias] = flag
        return flag

    def add_rows(self, grp: FlagGroup, rows: Iterable[FlagRow]) -> None:
        """Declare a table of flags (see :func:`flag_from_row`) in one group."""
        for row in rows:
            self.add(grp, flag_from_row(row))

    def __getitem__(self, name: str) -> Any:
        return self.by_name[name].value

    def was_set(self, name: str) -> bool:
        return self.by_name[name].is_set

    def parse(self, argv: list[str]) -> list[str]:
        """Parse like flag.FlagSet.Parse and return the remaining arguments."""
        i = 0
        while i < len(argv):
            arg = argv[i]
            if len(arg) < 2 or arg[0] != "-":
                break
            num_minuses = 1
            if arg[1] == "-":
                num_minuses = 2
                if len(arg) == 2:  # "--" terminates the flags
                    i += 1
                    break
            name = arg[num_minuses:]
            if not name or name[0] in "-=":
                raise FlagError(f"bad flag syntax: {arg}")
            i += 1
            value: str | None = None
            if "=" in name[1:]:
                idx = name.index("=", 1)
                name, value = name[:idx], name[idx + 1 :]
            flag = self.by_name.get(name)
            if flag is None:
                raise FlagError(f"flag provided but not defined: -{name}")
            if flag.kind in ("bool", "boolptr"):
                if value is None:
                    flag.set("true")
                    continue
                try:
                    flag.set(value)
                except ValueError as exc:
                    raise FlagError(f'invalid boolean value "{value}" for -{name}: {exc}') from None
                continue
            if value is None:
                if i >= len(argv):
                    raise FlagError(f"flag needs an argument: -{name}")
                value = argv[i]
                i += 1
            try:
                flag.set(value)
            except ValueError as exc:
                raise FlagError(f'invalid value "{value}" for flag -{name}: {exc}') from None
        self.args = argv[i:]
        return self.args

    def help(self, env_name: Callable[[str], str]) -> str:
        """The flag sections of a command's help, formatted as Vault does."""
        out: list[str] = []
        for grp in self.groups:
            out.append(f"{grp.title}:\n")
            for flag in sorted(grp.flags, key=lambda f: f.name):
                if flag.hidden:
                    continue
                ex = flag.example
                out.append(f"  -{flag.name}=<{ex}>" if ex else f"  -{flag.name}")
                usage = " ".join(flag.usage.split())
                default = flag.help_default()
                if default:
                    usage += f" The default is {default}."
                if flag.env:
                    usage += f" This can also be specified via the {env_name(flag.env)} environment variable."
                out.append(wrap_with_padding(usage, 6) + "\n")
        return "\n".join(out).rstrip("\n")


def wrap_with_padding(text: str, pad: int) -> str:
    """kr/text.Wrap at 78 - pad columns, each line indented by pad spaces."""
    lines = wrap(text, MAX_LINE - pad).split("\n")
    return "\n".join(" " * pad + line for line in lines)


def wrap(text: str, width: int = MAX_LINE) -> str:
    """github.com/kr/text.Wrap: newlines become spaces, then a minimum-raggedness line breaking."""
    words = text.strip().replace("\n", " ").split(" ")
    n = len(words)
    penalty = 100000
    nbrk = [0] * n
    cost = [2**31 - 1] * n
    for i in range(n - 1, -1, -1):
        # length of words[i..j] joined by single spaces
        total = len(words[i])
        lengths = [total]
        for j in range(i + 1, n):
            total += 1 + len(words[j])
            lengths.append(total)
        if lengths[-1] <= width:
            cost[i] = 0
            nbrk[i] = n
            continue
        for j in range(i + 1, n):
            line_len = lengths[j - 1 - i]
            d = width - line_len
            c = d * d + cost[j]
            if line_len > width:
                c += penalty
            if c < cost[i]:
                cost[i] = c
                nbrk[i] = j
    lines = []
    i = 0
    while i < n:
        lines.append(" ".join(words[i : nbrk[i]]))
        i = nbrk[i]
    return "\n".join(lines)
