"""HCL v1 (and HCL-flavoured JSON) read the way hashicorp/hcl reads it, positions and errors included.

ACL policies need the positional AST (:func:`parse`); server and agent configuration files need
plain values (:func:`decode`). This package imports nothing of tessera.
"""

from .parser import (
    GO_NODE_NAMES,
    Item,
    ListNode,
    Literal,
    Node,
    ObjectNode,
    decode,
    filter_items,
    items_dict,
    node_value,
    parse,
)
from .scanner import (
    BOOL,
    FLOAT,
    HEREDOC,
    NOPOS,
    NULL,
    NUMBER,
    STRING,
    HCLError,
    Pos,
    Token,
    go_parse_int,
    unquote,
)

__all__ = [
    "BOOL",
    "FLOAT",
    "GO_NODE_NAMES",
    "HEREDOC",
    "NOPOS",
    "NULL",
    "NUMBER",
    "STRING",
    "HCLError",
    "Item",
    "ListNode",
    "Literal",
    "Node",
    "ObjectNode",
    "Pos",
    "Token",
    "decode",
    "filter_items",
    "go_parse_int",
    "items_dict",
    "node_value",
    "parse",
    "unquote",
]
