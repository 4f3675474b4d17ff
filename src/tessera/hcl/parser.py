"""A positional HCL v1 (and HCL-flavoured JSON) reader: ACL policies and configuration files.

pyhcl turns a document into a plain dict, which loses what policy parsing depends on: repeated
``path "x"`` blocks (Vault merges them), the line of every ``=`` (named in "invalid key" errors),
the node kinds and positions in decode errors, and Go's exact syntax error texts
(``At 1:35: error parsing list, expected comma or list end, got: RBRACE``). This module keeps
them: it scans and parses the way hashicorp/hcl v1 does and yields a small AST of
:class:`Item`, :class:`Literal`, :class:`ListNode` and :class:`ObjectNode`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .scanner import (
    ASSIGN,
    BOOL,
    COLON,
    COMMA,
    COMMENT,
    EOF,
    FLOAT,
    HEREDOC,
    IDENT,
    ILLEGAL,
    LBRACE,
    LBRACK,
    NOPOS,
    NULL,
    NUMBER,
    RBRACE,
    RBRACK,
    STRING,
    HCLError,
    Pos,
    Scanner,
    Token,
    go_parse_int,
    unquote,
)

__all__ = [
    "GO_NODE_NAMES",
    "NOPOS",
    "HCLError",
    "Item",
    "ListNode",
    "Literal",
    "ObjectNode",
    "Pos",
    "Token",
    "filter_items",
    "go_parse_int",
    "parse",
    "unquote",
]


@dataclass(slots=True)
class Literal:
    tok: Token

    @property
    def pos(self) -> Pos:
        return self.tok.pos


@dataclass(slots=True)
class ListNode:
    items: list[Node]
    pos: Pos = NOPOS


@dataclass(slots=True)
class ObjectNode:
    items: list[Item]
    pos: Pos = NOPOS


@dataclass(slots=True)
class Item:
    keys: list[Token]
    val: Node | None = None
    assign: Pos = NOPOS

    @property
    def pos(self) -> Pos:
        if self.keys:
            return self.keys[0].pos
        return self.val.pos if self.val is not None else NOPOS

    def key(self, i: int = 0) -> str:
        return str(self.keys[i].value())


Node = Literal | ListNode | ObjectNode | Item

GO_NODE_NAMES = {
    Literal: "*ast.LiteralType",
    ListNode: "*ast.ListType",
    ObjectNode: "*ast.ObjectType",
    Item: "*ast.ObjectItem",
}


# -- parsing ------------------------------------------------------------------------------


class _Eof(Exception):
    """hcl's errEofToken: the end of an object list, not an error by itself."""


_EOF = _Eof()


def _pos_err(pos: Pos, msg: str) -> HCLError:
    return HCLError(f"At {pos}: {msg}")


T = TypeVar("T")
# Deeper documents are refused before the recursive descent below could run out of stack (a
# RecursionError, a 500); Vault's parser has no limit, but no policy or config nests this deep.
MAX_NESTING = 100


def _nested(method: Callable[..., T]) -> Callable[..., T]:
    """Count one more level of ``{`` or ``[`` while ``method`` parses it; refuse past MAX_NESTING."""

    @functools.wraps(method)
    def wrapper(self: Any) -> T:
        self.depth += 1
        try:
            if self.depth > MAX_NESTING:
                raise HCLError(f"nested more than {MAX_NESTING} levels deep")
            return method(self)
        finally:
            self.depth -= 1

    return wrapper


class _TokenReader:
    """Tokens from a scanner with one token of look-back (``unscan``), as both hcl parsers read them."""

    def __init__(self, sc: Scanner, json: bool) -> None:
        self.sc = sc
        self.tok = Token(ILLEGAL, "", NOPOS, json)
        self.buffered = False
        self.depth = 0

    def scan(self) -> Token:
        if self.buffered:
            self.buffered = False
            return self.tok
        self.tok = self._next_token()
        return self.tok

    def unscan(self) -> None:
        self.buffered = True

    def _next_token(self) -> Token:
        return self.sc.scan()


class _Parser(_TokenReader):
    """hcl/parser: ObjectList ⟶ ObjectItem(keys, '=' value | '{' ObjectList '}')."""

    def __init__(self, src: str) -> None:
        super().__init__(Scanner(src.replace("\r\n", "\n")), False)

    def _next_token(self) -> Token:
        tok = self.sc.scan()
        while tok.type == COMMENT:
            tok = self.sc.scan()
        return tok

    def parse(self) -> list[Item]:
        items, err = self.object_list(False)
        if self.sc.errors:
            pos, msg = self.sc.errors[-1]
            raise _pos_err(pos, msg)
        if err is not None:
            raise err
        return items

    def object_list(self, obj: bool) -> tuple[list[Item], Exception | None]:
        items: list[Item] = []
        while True:
            if obj:
                t = self.scan()
                self.unscan()
                if t.type == RBRACE:
                    break
            item, err = self.object_item()
            if err is _EOF:
                break
            if err is not None:
                return items, err
            assert item is not None
            items.append(item)
            if self.scan().type != COMMA:
                self.unscan()
        return items, None

    def object_item(self) -> tuple[Item | None, Exception | None]:
        keys, err = self.object_key()
        if keys and err is _EOF:
            err = None
        if keys and err is not None and self.tok.type == RBRACE:
            err = None
            self.tok = Token(EOF, self.tok.text, self.tok.pos)
        if err is not None:
            return None, err
        item = Item(keys)
        if self.tok.type == ASSIGN:
            item.assign = self.tok.pos
            val, err = self.object()
            if err is not None:
                return None, err
            item.val = val
        elif self.tok.type == LBRACE:
            val, err = self.object_type()
            if err is not None:
                return None, err
            item.val = val
        else:
            text = " ".join(k.text for k in keys)
            return None, _pos_err(
                self.tok.pos, f"key '{text}' expected start of object ('{{') or assignment ('=')"
            )
        self.scan()
        self.unscan()
        return item, None

    def object_key(self) -> tuple[list[Token], Exception | None]:
        keys: list[Token] = []
        while True:
            t = self.scan()
            if t.type == EOF:
                return keys, _EOF
            if t.type == ASSIGN:
                if len(keys) > 1:
                    return [], _pos_err(t.pos, f"nested object expected: LBRACE got: {t.type}")
                if not keys:
                    return [], _pos_err(t.pos, "no object keys found!")
                return keys, None
            if t.type == LBRACE:
                return keys, (None if keys else _pos_err(t.pos, f"expected: IDENT | STRING got: {t.type}"))
            if t.type in (IDENT, STRING):
                keys.append(t)
            elif t.type == ILLEGAL:
                return keys, _pos_err(t.pos, "illegal character")
            else:
                return keys, _pos_err(t.pos, f"expected: IDENT | STRING | ASSIGN | LBRACE got: {t.type}")

    def object(self) -> tuple[Node | None, Exception | None]:
        t = self.scan()
        if t.type in (NUMBER, FLOAT, BOOL, STRING, HEREDOC):
            return Literal(t), None
        if t.type == LBRACE:
            return self.object_type()
        if t.type == LBRACK:
            return self.list_type()
        if t.type == EOF:
            return None, _EOF
        return None, _pos_err(t.pos, f"Unknown token: {t.pos} {t.type} {t.text}")

    @_nested
    def object_type(self) -> tuple[ObjectNode | None, Exception | None]:
        lbrace = self.tok.pos
        items, err = self.object_list(True)
        if err is not None:
            return None, err
        t = self.scan()
        if t.type != RBRACE:
            return None, _pos_err(t.pos, f"object expected closing RBRACE got: {t.type}")
        return ObjectNode(items, lbrace), None

    @_nested
    def list_type(self) -> tuple[ListNode | None, Exception | None]:
        node = ListNode([], self.tok.pos)
        need_comma = False
        while True:
            t = self.scan()
            if need_comma and t.type not in (COMMA, RBRACK):
                return None, _pos_err(t.pos, f"error parsing list, expected comma or list end, got: {t.type}")
            if t.type in (BOOL, NUMBER, FLOAT, STRING, HEREDOC):
                node.items.append(Literal(t))
                need_comma = True
            elif t.type == COMMA:
                self.scan()
                self.unscan()
                need_comma = False
            elif t.type == LBRACE:
                obj, err = self.object_type()
                if err is not None:
                    return None, _pos_err(t.pos, f"error while trying to parse object within list: {err}")
                node.items.append(obj)  # type: ignore[arg-type]
                need_comma = True
            elif t.type == LBRACK:
                sub, err = self.list_type()
                if err is not None:
                    return None, _pos_err(t.pos, f"error while trying to parse list within list: {err}")
                node.items.append(sub)  # type: ignore[arg-type]
            elif t.type == RBRACK:
                return node, None
            else:
                return None, _pos_err(t.pos, f"unexpected token while parsing list: {t.type}")


class _JSONParser(_TokenReader):
    """hcl/json/parser: lenient (missing closing braces and trailing garbage pass), no positions
    on values, and the result flattened into HCL's shape (``{"path":{"a":{...}}}`` becomes
    one item with keys ``path``, ``a``)."""

    def __init__(self, src: str) -> None:
        super().__init__(Scanner(src, json=True), True)

    def parse(self) -> list[Item]:
        try:
            obj = self.object()
        except _Eof:
            obj = None
        except HCLError as exc:
            if self.sc.errors:
                raise self._scan_error() from None
            raise exc
        if self.sc.errors:
            raise self._scan_error()
        items = obj.items if obj is not None else []
        return _flatten(items)

    def _scan_error(self) -> HCLError:
        pos, msg = self.sc.errors[-1]
        return HCLError(f"{pos}: {msg}")

    def object(self) -> ObjectNode:
        t = self.scan()
        if t.type == LBRACE:
            return self.object_type()
        if t.type == EOF:
            raise _EOF
        raise HCLError(f"Expected object, got unknown token: {t.pos} {t.type} {t.text}")

    @_nested
    def object_type(self) -> ObjectNode:
        items, err = self.object_list()
        if err is not None and self.tok.type != RBRACE:
            raise err
        return ObjectNode(items)

    def object_list(self) -> tuple[list[Item], HCLError | None]:
        items: list[Item] = []
        while True:
            try:
                item = self.object_item()
            except _Eof:
                break
            except HCLError as exc:
                return items, exc
            items.append(item)
            if self.scan().type != COMMA:
                break
        return items, None

    def object_item(self) -> Item:
        keys = self.object_key()
        item = Item(keys)
        if self.tok.type == COLON:
            item.assign = self.tok.pos
            item.val = self.value()
        return item

    def object_key(self) -> list[Token]:
        keys: list[Token] = []
        while True:
            t = self.scan()
            if t.type == EOF:
                raise _EOF
            if t.type == STRING:
                keys.append(Token(STRING, t.text, NOPOS, True))
            elif t.type == COLON:
                if not keys:
                    raise HCLError(f"expected: STRING got: {t.type}")
                return keys
            elif t.type == ILLEGAL:
                raise HCLError("illegal")
            else:
                raise HCLError(f"expected: STRING got: {t.type}")

    def value(self) -> Node:
        t = self.scan()
        if t.type in (NUMBER, FLOAT, BOOL, NULL, STRING):
            return Literal(Token(t.type, t.text, NOPOS, True))
        if t.type == LBRACE:
            return self.object_type()
        if t.type == LBRACK:
            return self.list_type()
        if t.type == EOF:
            raise _EOF
        raise HCLError(f"Expected object value, got unknown token: {t.pos} {t.type} {t.text}")

    @_nested
    def list_type(self) -> ListNode:
        node = ListNode([])
        while True:
            t = self.scan()
            if t.type in (NUMBER, FLOAT, STRING):
                node.items.append(Literal(Token(t.type, t.text, NOPOS, True)))
            elif t.type == LBRACE:
                node.items.append(self.object_type())
            elif t.type in (COMMA, BOOL, LBRACK):
                continue
            elif t.type == RBRACK:
                return node
            else:
                raise HCLError(f"unexpected token while parsing list: {t.type}")


def _flatten(items: list[Item]) -> list[Item]:
    """hcl/json/parser's flattenObjects: nested objects of objects become multi-key items."""
    out: list[Item] = []
    frontier = list(items)
    while frontier:
        item = frontier.pop()
        val = item.val
        if (
            isinstance(val, ObjectNode)
            and val.items
            and all(isinstance(s.val, ObjectNode) for s in val.items)
        ):
            for sub in val.items:
                frontier.append(Item(item.keys + sub.keys, sub.val, item.assign))
        elif isinstance(val, ListNode) and val.items and all(isinstance(e, ObjectNode) for e in val.items):
            for elem in val.items:
                frontier.append(Item(item.keys, elem, item.assign))
        else:
            out.append(item)
    out.reverse()
    for item in out:
        _flatten_node(item.val)
    return out


def _flatten_node(node: Node | None) -> None:
    if isinstance(node, ObjectNode):
        node.items = _flatten(node.items)
    elif isinstance(node, ListNode):
        for elem in node.items:
            _flatten_node(elem)


def parse(src: str) -> list[Item]:
    """Parse a policy document (JSON when it starts with ``{``) into its top-level items."""
    if src.strip().startswith("{"):
        return _JSONParser(src).parse()
    return _Parser(src).parse()


def filter_items(items: list[Item], name: str) -> list[Item]:
    """ObjectList.Filter(name): items whose first key matches (case-insensitively), key removed."""
    out = []
    for item in items:
        if item.keys and str(item.keys[0].value()).casefold() == name.casefold():
            out.append(Item(item.keys[1:], item.val, item.assign))
    return out


# -- decoding into Python values ---------------------------------------------------------------


def node_value(node: Node | None) -> object:
    """A node as Go's map[string]interface{} decoding sees it."""
    if isinstance(node, Literal):
        return node.tok.value()
    if isinstance(node, ListNode):
        return [node_value(e) for e in node.items]
    if isinstance(node, ObjectNode):
        return items_dict(node.items)
    return None


def items_dict(items: list[Item]) -> dict[str, object]:
    """Labels nest (``a "b" {}`` → ``{"a": {"b": {...}}}``); a repeated key becomes a list, never a merge."""
    collected: dict[str, list[object]] = {}
    for item in items:
        value = node_value(item.val)
        for key in reversed(item.keys[1:]):
            value = {str(key.value()): value}
        collected.setdefault(str(item.keys[0].value()), []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in collected.items()}


def decode(src: str) -> dict[str, object]:
    """A whole HCL document as nested dicts and lists (for configuration files)."""
    return items_dict(parse(src))
