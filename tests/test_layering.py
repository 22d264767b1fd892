"""The house's floors hold: each layer imports only the layers below it, with no cycle.

Two checks (docs in /ARCHITECTURE: data flows one way, text -> integers -> engine ->
numbers -> files, screens and other engines):

* at run time, importing the engine, text handling, training and the applications in a
  fresh interpreter leaves the doors out of the house (``interop``, ``explore``, ``cli``)
  and torch unimported;
* statically, every ``import`` in ``src/rnnkit`` (also those inside functions, relative
  ones resolved) respects the floors below, and neither the subpackages nor the modules
  import each other in a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import rnnkit

PACKAGE = Path(rnnkit.__file__).parent

#: Each part of rnnkit and the parts it may import (besides itself). A part missing here
#: may import nothing of rnnkit.
ALLOWED = {
    "nn": set(),
    "extras": set(),  # optional packages: import one, or name the extra that installs it
    "gradcheck": {"nn"},
    "text": {"nn"},
    "training": {"nn", "text", "extras"},
    "textgen": {"nn", "text", "training", "extras"},
    "sentiment": {"nn", "text", "training", "extras"},
    "analysis": {"nn", "text", "training", "extras"},
    "embed": {"nn", "text", "training", "extras"},
    "interop": {"nn", "text", "training", "textgen", "sentiment", "extras"},
    "explore": {"nn", "text", "training", "textgen", "sentiment", "analysis", "interop",
                "extras"},
    "cli": {"nn", "text", "training", "textgen", "sentiment", "analysis", "embed", "interop",
            "explore", "gradcheck", "extras"},
}
LOWER = ("rnnkit.nn", "rnnkit.text", "rnnkit.training", "rnnkit.textgen", "rnnkit.sentiment")
UPPER = ("rnnkit.interop", "rnnkit.explore", "rnnkit.cli", "torch")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_only(tree: ast.AST) -> set[ast.AST]:
    """The import statements inside ``if TYPE_CHECKING:`` blocks (never run)."""
    out: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                out.update(n for n in ast.walk(child)
                           if isinstance(n, (ast.Import, ast.ImportFrom)))
    return out


def imported_modules(path: Path, tree: ast.AST | None = None, typing: bool = True) -> set[str]:
    """Every ``rnnkit...`` module that ``path`` imports anywhere (top level, functions and,
    with ``typing``, ``if TYPE_CHECKING:`` blocks), relative imports resolved;
    ``from X import name`` counts ``X.name`` when that is a module of the package, else ``X``."""
    tree = tree or ast.parse(path.read_text(encoding="utf-8"), str(path))
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skip = set() if typing else _type_checking_only(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if node in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "rnnkit")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "rnnkit":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
    return found


def part(module: str) -> str:
    """``rnnkit.nn.cells`` -> ``nn``; the package itself is ``rnnkit``."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "rnnkit"


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def graph(typing: bool = True) -> dict[str, set[str]]:
    """module -> the modules it imports (``typing``: also those only type checkers read)."""
    return {name: imported_modules(path, typing=typing) - {name} for name, path in MODULES.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``edges`` (a list of nodes, first == last), or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(edges, WHITE)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        color[node] = GREY
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if color.get(nxt, BLACK) == GREY:
                return stack[stack.index(nxt):] + [nxt]
            if color.get(nxt) == WHITE:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        color[node] = BLACK
        return None

    for node in sorted(edges):
        if color[node] == WHITE:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def floor_violations(edges: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in sorted(edges.items()):
        source = part(module)
        if source == "rnnkit":  # the package's __init__ imports nothing of it
            bad += [f"{module} -> {t}" for t in sorted(targets)]
            continue
        for target in sorted(targets):
            dest = part(target)
            if dest not in (source, "rnnkit") and dest not in ALLOWED.get(source, set()):
                bad.append(f"{module} -> {target}")
    return bad


def parts_graph(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for module, targets in edges.items():
        out.setdefault(part(module), set()).update(part(t) for t in targets)
    return {p: targets - {p} for p, targets in out.items()}


def test_importing_the_lower_floors_leaves_the_doors_and_torch_unimported():
    code = (
        "import sys\n"
        f"for name in {LOWER!r}:\n"
        "    __import__(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch' or any("
        f"m == u or m.startswith(u + '.') for u in {UPPER!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_every_import_respects_the_floors():
    assert floor_violations(graph()) == []


def test_no_import_cycle_between_parts_or_modules():
    assert find_cycle(parts_graph(graph())) is None
    # between modules, what runs: an annotation's import for type checkers (rundir's
    # Processes protocol, defined by the trainer that uses the run directory) is no cycle
    assert find_cycle(graph(typing=False)) is None


def test_the_checks_can_fail(tmp_path):
    """What the checks catch: an upward import inside a function, and a cycle."""
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from ..interop.torch import to_torch\n")
    tree = ast.parse(source.read_text())
    fake = PACKAGE / "textgen" / "probe.py"  # resolved as if it lived in rnnkit.textgen
    found = imported_modules(fake, tree)
    assert found == {"rnnkit.interop.torch"}
    assert floor_violations({"rnnkit.textgen.probe": found}) == [
        "rnnkit.textgen.probe -> rnnkit.interop.torch"
    ]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle(parts_graph({"rnnkit.textgen.api": {"rnnkit.interop.x"},
                                   "rnnkit.interop.x": {"rnnkit.textgen.model"}})) is not None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_names_resolve(module):
    """Every import of the package names a module that exists (so the graph sees them all)."""
    for target in imported_modules(MODULES[module]):
        assert target in MODULES, f"{module} imports {target}, which the graph does not know"
