"""Random token trees against a pure model: exactly the tokens the rules keep alive are alive.

Operations (create, create-orphan, batch child, revoke, revoke-orphan) go through a real Core's
request pipeline over in-memory storage; after every step each token's liveness, orphan flag and
the parent index are compared with the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.framework import Operation
from tests.tokens.conftest import CoreHarness


@dataclass
class Node:
    token: str
    batch: bool
    parent: int | None  # index in the model, None = orphan
    alive: bool = True
    children: set[int] = field(default_factory=set)


class Model:
    def __init__(self) -> None:
        self.nodes: list[Node] = []

    def live(self, i: int) -> bool:
        node = self.nodes[i]
        if not node.alive:
            return False
        if node.batch and node.parent is not None:
            return self.live(node.parent)
        return True

    def add(self, token: str, batch: bool, parent: int | None) -> None:
        self.nodes.append(Node(token, batch, parent))
        if parent is not None and not batch:
            self.nodes[parent].children.add(len(self.nodes) - 1)

    def revoke(self, i: int) -> None:
        stack = [i]
        while stack:
            j = stack.pop()
            self.nodes[j].alive = False
            stack.extend(self.nodes[j].children)
            self.nodes[j].children = set()

    def revoke_orphan(self, i: int) -> None:
        node = self.nodes[i]
        node.alive = False
        for c in node.children:
            self.nodes[c].parent = None
        node.children = set()


OPS = st.lists(
    st.tuples(
        st.sampled_from(["create", "orphan", "batch", "batch_orphan", "revoke", "revoke_orphan"]),
        st.integers(min_value=0, max_value=1000),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_random_trees_match_the_model(ops: list[tuple[str, int]]) -> None:
    h = CoreHarness()
    try:
        model = Model()
        h.request(Operation.UPDATE, "sys/policies/acl/tree", data={"policy": TREE_POLICY})
        for op, pick in ops:
            service_alive = [i for i, n in enumerate(model.nodes) if not n.batch and model.live(i)]
            if op in ("create", "orphan", "batch", "batch_orphan"):
                parent_idx = service_alive[pick % len(service_alive)] if service_alive and pick % 4 else None
                caller = model.nodes[parent_idx].token if parent_idx is not None else h.root
                orphan = op in ("orphan", "batch_orphan") or parent_idx is None
                path = "auth/token/create-orphan" if orphan else "auth/token/create"
                body: dict = {"policies": ["tree"]}
                if op.startswith("batch"):
                    body["type"] = "batch"
                token = h.create(caller, path, **body)
                model.add(token, op.startswith("batch"), None if orphan else parent_idx)
            elif service_alive:
                target = service_alive[pick % len(service_alive)]
                path = "auth/token/revoke" if op == "revoke" else "auth/token/revoke-orphan"
                h.request(Operation.UPDATE, path, data={"token": model.nodes[target].token})
                (model.revoke if op == "revoke" else model.revoke_orphan)(target)
            _check(h, model)
    finally:
        h.close()


TREE_POLICY = 'path "auth/token/*" { capabilities = ["create", "read", "update", "list"] }'


def _check(h: CoreHarness, model: Model) -> None:
    store = h.store
    for i, node in enumerate(model.nodes):
        entry = store.lookup(node.token)
        assert (entry is not None) == model.live(i), (i, node)
        if entry is None:
            continue
        if not node.batch:
            assert entry.orphan == (node.parent is None), (i, node)
            indexed = set(store.children(entry.salted_id))
            expected = {store.salted(model.nodes[c].token) for c in node.children if model.live(c)}
            assert indexed == expected, (i, node)
