"""The docs run and match the code: snippets execute, every public name is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
ROOT = DOCS.parent


def python_blocks(name: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / name).read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("name", ["pytorch.md", "api.md", "analysis.md"])
def test_python_snippets_run(name):
    blocks = python_blocks(name)
    assert blocks, f"{name} has no python snippet"
    if name == "pytorch.md":
        pytest.importorskip("torch")
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOCS / name), "exec"), namespace)


def test_api_reference_names_every_public_object():
    from rnnkit.nn import __all__ as nn_names
    from rnnkit.nn import init, optim

    text = (DOCS / "api.md").read_text(encoding="utf-8")
    names = (
        set(nn_names) | set(optim.__all__) | set(init.__all__) | {"gradcheck", "GradcheckResult"}
    )
    missing = sorted(n for n in names if not re.search(rf"\b{re.escape(n)}\b", text))
    assert not missing, f"docs/api.md does not mention {missing}"


def test_api_reference_signatures_match_the_code():
    import inspect

    from rnnkit import nn
    from rnnkit.nn import optim

    text = (
        (DOCS / "api.md").read_text(encoding="utf-8").replace("\n    ", " ").replace("\n     ", " ")
    )
    for cls in (optim.SGD, optim.Adagrad, optim.RMSprop, optim.Adam, optim.AdamW):
        defaults = [f"{p.name}={p.default!r}" for p in inspect.signature(cls).parameters.values()
                    if p.default is not inspect.Parameter.empty]  # fmt: skip
        for d in defaults:
            assert d.replace("'", '"') in text, f"{cls.__name__}: {d} not in docs/api.md"
    for cls in (nn.RNN, nn.LSTM, nn.GRU):
        for p in inspect.signature(cls).parameters.values():
            assert p.name in text, f"{cls.__name__}({p.name}) not in docs/api.md"


def test_equations_name_functions_that_exist():
    from rnnkit.nn import cells

    text = (DOCS / "equations.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(\w+Cell)\.(forward|backward)`", text))
    assert len(named) == 14  # seven cells, forward and backward
    for cls, method in named:
        assert callable(getattr(getattr(cells, cls, None), method, None)), f"{cls}.{method}"


def test_tutorial_map_points_at_files_that_exist():
    text = (DOCS / "tutorial-map.md").read_text(encoding="utf-8")
    paths = set(re.findall(r"`((?:examples|rnnkit)/[\w/]+(?:\.py)?)`", text))
    assert any(p.startswith("examples/") for p in paths)
    for p in paths:
        path = ROOT / p if p.startswith("examples/") else ROOT / "src" / p
        assert path.exists(), f"docs/tutorial-map.md names {p}, which does not exist"
    for section in range(1, 9):
        assert re.search(rf"^\| {section} \|", text, re.M), f"section {section} missing"


def test_local_links_resolve():
    for page in DOCS.glob("*.md"):
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_pipeline_page_examples_print_what_the_page_says():
    import doctest

    result = doctest.testfile(str(DOCS / "pipeline.md"), module_relative=False)
    assert result.attempted >= 4 and result.failed == 0
