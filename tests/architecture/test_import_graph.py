"""The import graph of src/tessera holds to the layers: no loops, no import running up a layer, and no
import inside a function but of a third-party package that serves one optional feature."""

from __future__ import annotations

from collections import defaultdict

from tests.architecture.graph import cycles, imports, modules
from tests.architecture.layers import LAZY_IN_MODULE, LAZY_THIRD_PARTY, layer_of


def _ours(name: str) -> bool:
    return name == "tessera" or name.startswith("tessera.")


def test_every_module_is_in_a_layer() -> None:
    for name in modules():
        layer_of(name)  # raises for a package missing from the list


def test_no_import_loops() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for imp in imports():
        if _ours(imp.imported):
            edges[imp.importer].add(imp.imported)
    assert cycles(edges) == []


def test_no_import_runs_up_the_layers() -> None:
    upward = sorted(
        f"{imp.importer}:{imp.line} imports {imp.imported}"
        for imp in imports()
        if _ours(imp.imported) and layer_of(imp.imported) > layer_of(imp.importer)
    )
    assert upward == []


def test_functions_import_only_optional_packages() -> None:
    inside = sorted(
        f"{imp.importer}:{imp.line} imports {imp.imported}"
        for imp in imports()
        if imp.in_function
        and imp.imported not in LAZY_THIRD_PARTY
        and (imp.importer, imp.imported) not in LAZY_IN_MODULE
    )
    assert inside == []


def test_the_graph_reader_sees_loops() -> None:
    """The checks above are only as good as the graph: a known loop must be found."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
