"""A safe evaluator for the Go text/template subset that Consul Template files use.

Supported: text and ``{{ }}`` actions (custom delimiters, ``{{-``/``-}}`` trimming, ``{{/* */}}``
comments); pipelines with ``|``; fields (``.Data.data.key``), variables (``$x := …``, ``$x = …``,
``$``), parenthesised pipelines; string/raw-string/number/bool/nil literals; ``if``/``else if``/
``else``, ``with``/``else with``/``else``, ``range`` (with ``$k, $v :=``, ``else``, ``break``,
``continue``) and ``end``; the functions of ``tmplfuncs`` plus those the caller adds
(``secret``…). Not supported: ``define``/``template``/``block`` and method calls.

Templates are parsed into a small tree and walked; nothing is ever passed to ``eval``/``exec``, and
only the registered functions can be called.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..gocompat.types import go_type
from .tmplfuncs import MISSING, Secret, TemplateError, fmt_value, pure_functions, truth

# -- lexing -----------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      |(?P<str>"(?:[^"\\\n]|\\.)*")
      |(?P<raw>`[^`]*`)
      |(?P<char>'(?:[^'\\]|\\.)')
      |(?P<num>[-+]?(?:0[xX][0-9a-fA-F_]+|(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?))
      |(?P<decl>:=)
      |(?P<assign>=)
      |(?P<var>\$[A-Za-z_0-9]*)
      |(?P<field>\.[A-Za-z_][A-Za-z_0-9]*)
      |(?P<dot>\.)
      |(?P<ident>[A-Za-z_][A-Za-z_0-9]*)
      |(?P<punct>[()|,])
    """,
    re.X,
)
_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "\\": "\\",
    '"': '"',
    "'": "'",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
}
_ESC = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)")


def _unquote(body: str) -> str:
    def repl(m: re.Match[str]) -> str:
        esc = m.group(1)
        if esc[0] in "xuU":
            return chr(int(esc[1:], 16))
        if esc[0] in "01234567":
            return chr(int(esc, 8))
        if esc in _ESCAPES:
            return _ESCAPES[esc]
        raise TemplateError(f"invalid syntax: unknown escape sequence \\{esc}")

    return _ESC.sub(repl, body)


@dataclass
class Tok:
    kind: str
    text: str
    space: bool  # whitespace before it (``$x .F`` are two operands, ``$x.F`` one)


def _tokens(src: str, name: str, line: int) -> list[Tok]:
    out: list[Tok] = []
    pos, space = 0, True
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m:
            raise TemplateError(f"template: {name}:{line}: unexpected {src[pos]!r} in command")
        kind = m.lastgroup or ""
        if kind == "ws":
            space = True
        else:
            out.append(Tok(kind, m.group(0), space))
            space = False
        pos = m.end()
    return out


# -- tree -------------------------------------------------------------------------------------------


@dataclass
class Operand:
    kind: str  # field | var | ident | lit | dot | pipe
    value: Any = None
    chain: tuple[str, ...] = ()


@dataclass
class Pipe:
    decl: list[str] = field(default_factory=list)
    assign: bool = False  # ``=`` rather than ``:=``
    cmds: list[list[Operand]] = field(default_factory=list)


@dataclass
class Node:
    kind: str  # text | action | if | with | range | break | continue
    line: int = 0
    text: str = ""
    pipe: Pipe | None = None
    body: list[Node] = field(default_factory=list)
    alt: list[Node] = field(default_factory=list)


class _Parser:
    def __init__(self, name: str, funcs: set[str]) -> None:
        self.name = name
        self.funcs = funcs
        self.toks: list[Tok] = []
        self.i = 0
        self.line = 0

    def err(self, msg: str) -> TemplateError:
        return TemplateError(f"template: {self.name}:{self.line}: {msg}")

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> Tok:
        tok = self.peek()
        if tok is None:
            raise self.err("unexpected end of command")
        self.i += 1
        return tok

    def pipeline(self, ctx: str, allow_decl: bool = True) -> Pipe:
        pipe = Pipe()
        if allow_decl and (tok := self.peek()) and tok.kind == "var":
            save = self.i
            names = [self.take().text]
            if (t := self.peek()) and t.kind == "punct" and t.text == ",":
                self.take()
                if not (t2 := self.peek()) or t2.kind != "var":
                    raise self.err(f"range can only initialize variables (in {ctx})")
                names.append(self.take().text)
            t = self.peek()
            if t and t.kind in ("decl", "assign"):
                self.take()
                pipe.decl, pipe.assign = names, t.kind == "assign"
            else:
                self.i = save
        while True:
            cmd: list[Operand] = []
            while (t := self.peek()) and not (t.kind == "punct" and t.text in "|)"):
                if t.kind == "punct" and t.text == ",":
                    raise self.err(f'unexpected "," in {ctx}')
                cmd.append(self.operand())
            if not cmd:
                raise self.err(f"missing value for {ctx}")
            pipe.cmds.append(cmd)
            t = self.peek()
            if t and t.kind == "punct" and t.text == "|":
                self.take()
                continue
            return pipe

    def operand(self) -> Operand:
        tok = self.take()
        if tok.kind == "field":
            names = [tok.text[1:]]
            while (t := self.peek()) and t.kind == "field" and not t.space:
                names.append(self.take().text[1:])
            return Operand("field", chain=tuple(names))
        if tok.kind == "dot":
            return Operand("dot")
        if tok.kind == "var":
            op = Operand("var", tok.text)
        elif tok.kind == "str":
            return Operand("lit", _unquote(tok.text[1:-1]))
        elif tok.kind == "raw":
            return Operand("lit", tok.text[1:-1])
        elif tok.kind == "char":
            return Operand("lit", ord(_unquote(tok.text[1:-1])))
        elif tok.kind == "num":
            text = tok.text.replace("_", "")
            try:
                return Operand("lit", int(text, 0))
            except ValueError:
                return Operand("lit", float(text))
        elif tok.kind == "ident":
            if tok.text in ("true", "false"):
                return Operand("lit", tok.text == "true")
            if tok.text == "nil":
                return Operand("lit", None)
            if tok.text not in self.funcs:
                raise self.err(f'function "{tok.text}" not defined')
            return Operand("ident", tok.text)
        elif tok.kind == "punct" and tok.text == "(":
            inner = self.pipeline("parenthesized pipeline")
            close = self.take()
            if close.text != ")":
                raise self.err("unclosed left paren")
            op = Operand("pipe", inner)
        else:
            raise self.err(f"unexpected {tok.text!r} in operand")
        names = []
        while (t := self.peek()) and t.kind == "field" and not t.space:
            names.append(self.take().text[1:])
        op.chain = tuple(names)
        return op


def _lex(text: str, left: str, right: str, name: str) -> list[tuple[str, str, int]]:
    """Split into ("text", s, line) and ("action", inner, line), applying trim markers."""
    items: list[tuple[str, str, int]] = []
    pos, line = 0, 1
    while True:
        start = text.find(left, pos)
        if start < 0:
            items.append(("text", text[pos:], line))
            return items
        chunk = text[pos:start]
        inner_start = start + len(left)
        trim_left = text.startswith("-", inner_start) and text[inner_start + 1 : inner_start + 2] in (
            " ",
            "\t",
            "\n",
            "\r",
        )
        if trim_left:
            chunk = chunk.rstrip(" \t\r\n")
            inner_start += 1
        items.append(("text", chunk, line))
        line += text.count("\n", pos, start)
        end = text.find(right, inner_start)
        if end < 0:
            raise TemplateError(f"template: {name}:{line}: unclosed action")
        inner = text[inner_start:end]
        # a string literal may contain the right delimiter: extend past it while quotes are open
        while _open_quote(inner):
            end = text.find(right, end + len(right))
            if end < 0:
                raise TemplateError(f"template: {name}:{line}: unclosed action")
            inner = text[inner_start:end]
        trim_right = inner.endswith("-") and inner[-2:-1] in (" ", "\t", "\n", "\r")
        if trim_right:
            inner = inner[:-1]
        items.append(("action", inner, line))
        line += text.count("\n", start, end)
        pos = end + len(right)
        if trim_right:
            while pos < len(text) and text[pos] in " \t\r\n":
                if text[pos] == "\n":
                    line += 1
                pos += 1


def _open_quote(inner: str) -> bool:
    quote = ""
    i = 0
    while i < len(inner):
        c = inner[i]
        if quote:
            if c == "\\" and quote != "`":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"`'":
            quote = c
        i += 1
    return bool(quote)


def parse(
    text: str,
    *,
    name: str = "(dynamic)",
    funcs: set[str] | None = None,
    delims: tuple[str, str] = ("{{", "}}"),
) -> list[Node]:
    """Parse a template into its node tree (errors are raised here, before anything runs)."""
    parser = _Parser(name, set(funcs or ()) | set(pure_functions()) | {"and", "or"})
    root: list[Node] = []
    stack: list[tuple[Node, list[Node]]] = []  # (block node, list being filled)
    current = root
    loops = 0
    for kind, value, line in _lex(text, delims[0], delims[1], name):
        parser.line = line
        if kind == "text":
            if value:
                current.append(Node("text", line, text=value))
            continue
        stripped = value.strip()
        if stripped.startswith("/*"):
            if not stripped.endswith("*/"):
                raise parser.err("unclosed comment")
            continue
        parser.toks, parser.i = _tokens(value, name, line), 0
        head = parser.peek()
        if head is None:
            raise parser.err("missing value for command")
        word = head.text if head.kind == "ident" else ""
        if word in ("if", "with", "range"):
            parser.take()
            node = Node(word, line, pipe=parser.pipeline(word))
            current.append(node)
            stack.append((node, node.body))
            current = node.body
            loops += word == "range"
        elif word == "else":
            parser.take()
            if not stack or stack[-1][1] is not stack[-1][0].body:
                raise parser.err("unexpected {{else}}")
            block = stack[-1][0]
            nxt = parser.peek()
            if (
                nxt is not None
                and nxt.kind == "ident"
                and nxt.text in ("if", "with")
                and block.kind == nxt.text
            ):
                parser.take()
                chained = Node(nxt.text, line, pipe=parser.pipeline(nxt.text))
                block.alt.append(chained)
                stack[-1] = (block, block.alt)
                stack.append((chained, chained.body))
                chained.text = "chained"
                current = chained.body
            else:
                stack[-1] = (block, block.alt)
                current = block.alt
        elif word == "end":
            parser.take()
            if not stack:
                raise parser.err("unexpected {{end}}")
            while True:
                block, _ = stack.pop()
                loops -= block.kind == "range"
                if block.text != "chained":
                    break
            current = stack[-1][1] if stack else root
        elif word in ("break", "continue"):
            parser.take()
            if loops <= 0:
                raise parser.err(f"{{{{{word}}}}} outside {{{{range}}}}")
            current.append(Node(word, line))
        elif word in ("define", "template", "block"):
            raise parser.err(f'"{word}" is not supported')
        else:
            current.append(Node("action", line, pipe=parser.pipeline("command")))
        if parser.peek() is not None:
            raise parser.err(f"unexpected {parser.peek().text!r} in {word or 'command'}")  # type: ignore[union-attr]
    if stack:
        raise TemplateError(f"template: {name}:{parser.line}: unexpected EOF")
    return root


# -- execution --------------------------------------------------------------------------------------


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


_NOFINAL = object()


class Renderer:
    """Executes parsed templates; ``funcs`` adds caller functions (``secret``, ``secrets``…)."""

    def __init__(
        self, funcs: dict[str, Callable[..., Any]] | None = None, *, error_on_missing_key: bool = False
    ) -> None:
        self.funcs = {**pure_functions(), **(funcs or {})}
        self.strict = error_on_missing_key
        self.name = "(dynamic)"

    def render(self, nodes: list[Node], dot: Any = None, *, name: str = "(dynamic)") -> str:
        self.name = name
        out: list[str] = []
        self._walk(nodes, dot, [{"$": dot}], out)
        return "".join(out)

    def _err(self, node: Node, msg: str) -> TemplateError:
        return TemplateError(f"template: {self.name}:{node.line}: executing: {msg}")

    def _walk(self, nodes: list[Node], dot: Any, scopes: list[dict[str, Any]], out: list[str]) -> None:
        for node in nodes:
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "action":
                assert node.pipe is not None
                value = self._pipe(node, node.pipe, dot, scopes)
                if not node.pipe.decl:
                    out.append(fmt_value(value))
            elif node.kind in ("if", "with"):
                scopes.append({})
                try:
                    assert node.pipe is not None
                    value = self._pipe(node, node.pipe, dot, scopes)
                    if truth(value):
                        self._walk(node.body, value if node.kind == "with" else dot, scopes, out)
                    else:
                        self._walk(node.alt, dot, scopes, out)
                finally:
                    scopes.pop()
            elif node.kind == "range":
                self._range(node, dot, scopes, out)
            elif node.kind == "break":
                raise _Break
            elif node.kind == "continue":
                raise _Continue

    def _range(self, node: Node, dot: Any, scopes: list[dict[str, Any]], out: list[str]) -> None:
        assert node.pipe is not None
        pipe = Pipe(cmds=node.pipe.cmds)
        value = self._pipe(node, pipe, dot, scopes)
        if isinstance(value, dict):
            items = [(k, value[k]) for k in sorted(value, key=str)]
        elif isinstance(value, (list, tuple)):
            items = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [(i, i) for i in range(value)]
        elif value is None or value is MISSING:
            items = []
        else:
            raise self._err(node, f"range can't iterate over {fmt_value(value)}")
        if not items:
            scopes.append({})
            try:
                self._walk(node.alt, dot, scopes, out)
            finally:
                scopes.pop()
            return
        for key, elem in items:
            scope: dict[str, Any] = {}
            if len(node.pipe.decl) == 1:
                scope[node.pipe.decl[0]] = elem
            elif len(node.pipe.decl) == 2:
                scope[node.pipe.decl[0]], scope[node.pipe.decl[1]] = key, elem
            scopes.append(scope)
            try:
                self._walk(node.body, elem, scopes, out)
            except _Continue:
                continue
            except _Break:
                break
            finally:
                scopes.pop()

    def _lookup_var(self, node: Node, name: str, scopes: list[dict[str, Any]]) -> Any:
        for scope in reversed(scopes):
            if name in scope:
                return scope[name]
        raise self._err(node, f"undefined variable: {name}")

    def _pipe(self, node: Node, pipe: Pipe, dot: Any, scopes: list[dict[str, Any]]) -> Any:
        value: Any = _NOFINAL
        for cmd in pipe.cmds:
            value = self._command(node, cmd, dot, scopes, value)
        if pipe.decl:
            if pipe.assign:
                for scope in reversed(scopes):
                    if pipe.decl[0] in scope:
                        scope[pipe.decl[0]] = value
                        break
                else:
                    raise self._err(node, f"undefined variable: {pipe.decl[0]}")
            else:
                scopes[-1][pipe.decl[0]] = value
        return value

    def _command(
        self, node: Node, cmd: list[Operand], dot: Any, scopes: list[dict[str, Any]], final: Any
    ) -> Any:
        first = cmd[0]
        if first.kind == "ident":
            name = first.value
            if name in ("and", "or"):
                args = cmd[1:]
                values = [lambda a=a: self._operand(node, a, dot, scopes) for a in args]
                if final is not _NOFINAL:
                    values.append(lambda: final)
                if not values:
                    raise self._err(node, f"wrong number of args for {name}: want at least 1 got 0")
                result: Any = None
                for get in values:
                    result = get()
                    if truth(result) != (name == "and"):
                        return result
                return result
            args = [self._operand(node, a, dot, scopes) for a in cmd[1:]]
            if final is not _NOFINAL:
                args.append(final)
            try:
                return self.funcs[name](*args)
            except TemplateError as exc:
                raise self._err(node, f"error calling {name}: {exc}") from None
            except TypeError:
                raise self._err(node, f"wrong number of args for {name}: got {len(args)}") from None
            except (ValueError, KeyError, IndexError, UnicodeDecodeError) as exc:
                raise self._err(node, f"error calling {name}: {exc}") from None
        if len(cmd) > 1 or final is not _NOFINAL:
            raise self._err(node, f"can't give argument to non-function {self._describe(first)}")
        return self._operand(node, first, dot, scopes)

    @staticmethod
    def _describe(op: Operand) -> str:
        if op.kind == "field":
            return "." + ".".join(op.chain)
        return fmt_value(op.value)

    def _operand(self, node: Node, op: Operand, dot: Any, scopes: list[dict[str, Any]]) -> Any:
        if op.kind == "dot":
            return dot
        if op.kind == "lit":
            return op.value
        if op.kind == "field":
            return self._chain(node, dot, op.chain)
        if op.kind == "var":
            return self._chain(node, self._lookup_var(node, op.value, scopes), op.chain)
        if op.kind == "pipe":
            return self._chain(node, self._pipe(node, op.value, dot, scopes), op.chain)
        if op.kind == "ident":
            try:
                return self.funcs[op.value]()
            except TemplateError as exc:
                raise self._err(node, f"error calling {op.value}: {exc}") from None
            except TypeError:
                raise self._err(node, f"wrong number of args for {op.value}: want more, got 0") from None
        raise self._err(node, "bad operand")

    def _chain(self, node: Node, value: Any, names: tuple[str, ...]) -> Any:
        for name in names:
            if isinstance(value, Secret):
                try:
                    value = value.field(name)
                except TemplateError as exc:
                    raise self._err(node, str(exc)) from None
            elif isinstance(value, dict):
                if name in value:
                    value = value[name]
                elif self.strict:
                    raise self._err(node, f'map has no entry for key "{name}"')
                else:
                    value = MISSING
            elif value is None or value is MISSING:
                raise self._err(node, f"nil pointer evaluating interface {{}}.{name}")
            else:
                raise self._err(
                    node, f"can't evaluate field {name} in type {go_type(value, json_number=False)}"
                )
        return value
