"""Each cell class declares what the other layers need, and nobody else matches on a cell's name.

The declarations are checked against what they stand for: the layer ``build_layer`` makes
runs the cell, the ``torch.nn`` class named by ``torch_name`` computes what the layer
computes, and ``onnx_gate_order`` puts the gates where the ONNX operator documents them
(onnxruntime's parity with every layer is in ``test_interop_onnx.py``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import rnnkit
from rnnkit.nn.cells import CELLS, Cell, cell_class
from rnnkit.nn.init import GATES
from rnnkit.nn.recurrent import RNNBase, build_layer

#: The gate order of each ONNX operator (onnx/docs/Operators.md: LSTM "iofc", GRU "zrh"), in
#: our gate names (ONNX's c is our g, its h our n); the RNN has one block.
ONNX_GATES = {"LSTM": ("i", "o", "f", "g"), "GRU": ("z", "r", "n"), "RNN": ()}


@pytest.mark.parametrize("name", sorted(CELLS))
def test_every_cell_class_declares_what_the_other_layers_need(name):
    cls = CELLS[name]
    assert issubclass(cls, Cell) and cls.name == name
    assert cls.num_gates == max(1, len(cls.gate_names))
    assert cls.state_arity == len(cls.state_names) and cls.state_names[0] == "h"
    assert cls().state_arity == cls.state_arity  # the class and its instances agree
    assert GATES[cls.mode] == cls.num_gates
    assert cls.torch_name in (None, "RNN", "LSTM", "GRU")
    assert cls.torch_module is None or cls.torch_name is None  # rnnkit's module: none in torch.nn
    assert (cls.recurrence is None) == cls.recurrent_weights  # a linear recurrence in h: no W_hh
    if cls.onnx_op is None:  # not an ONNX operator (the minimal cells): nothing to order
        assert cls.onnx_gate_order == () and not cls.onnx_attributes
        # exported with standard operators one way: a linear recurrence or a step in a Scan
        assert (cls.recurrence is None) != (cls.onnx_step is None)
    else:
        assert cls.onnx_step is None and cls.recurrence is None
        assert cls.onnx_op in ONNX_GATES
        assert sorted(cls.onnx_gate_order) == list(range(cls.num_gates))
    if cls.gate_names and cls.onnx_op is not None:  # the gates land where the operator reads them
        assert tuple(cls.gate_names[k] for k in cls.onnx_gate_order) == ONNX_GATES[cls.onnx_op]
    assert isinstance(cls.onnx_attributes, dict) and isinstance(cls.onnx_activations, tuple)
    assert isinstance(cls.layer_options, dict)
    layer = build_layer(cls, 3, 4, num_layers=2)
    assert isinstance(layer, RNNBase) and type(layer.cell) is cls and layer.mode == cls.mode
    assert cls in type(layer).cells
    assert layer.num_layers == 2 and cls.options in repr(layer)
    assert RNNBase.parameter_count(cls, 3, 4, 2) == sum(p.data.size for p in layer.parameters())
    assert cell_class(name) is cls


def test_gate_index_and_name_lookup():
    assert CELLS["lstm"].gate_index("f") == 1 and CELLS["gru"].gate_index("f") is None
    assert cell_class("gru", ("lstm", "gru")) is CELLS["gru"]
    with pytest.raises(ValueError, match="cell must be one of lstm, gru, received 'rnn'"):
        cell_class("rnn", ("lstm", "gru"))
    with pytest.raises(ValueError, match="received 'transformer'"):
        cell_class("transformer")


@pytest.mark.parametrize("name", sorted(CELLS))
def test_the_torch_class_a_cell_names_computes_what_its_layer_computes(name):
    torch = pytest.importorskip("torch")
    from rnnkit.textgen.torch_engine import torch_layer

    cls = CELLS[name]
    layer = build_layer(cls, 3, 4, num_layers=2, dtype=np.float64)
    if cls.torch_name is None and cls.torch_module is None:
        with pytest.raises(ValueError, match="no PyTorch counterpart"):
            torch_layer(cls, 3, 4)
        return
    module = torch_layer(cls, 3, 4, num_layers=2).double()
    # torch.nn's class, or where torch.nn has none rnnkit's own (the minimal cells)
    path = f"torch.nn.{cls.torch_name}" if cls.torch_name else cls.torch_module
    assert type(module).__name__ == path.rpartition(".")[2]
    module.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    with torch.no_grad():
        expected = module(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(layer(x)[0], expected, atol=1e-12)


#: Cell-type names as the cell classes spell them (their names, PyTorch's modes).
CELL_NAMES = {cls.name for cls in CELLS.values()} | {cls.mode for cls in CELLS.values()}
PACKAGE = Path(rnnkit.__file__).parent
DECLARATIONS = PACKAGE / "nn" / "cells.py"


def cell_name_matches(source: str, where: str) -> list[str]:
    """``where:line`` of each comparison with, or dict keyed by, a cell-type name in ``source``."""
    found = []

    def named(node) -> bool:
        return isinstance(node, ast.Constant) and node.value in CELL_NAMES

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(
            named(n) for n in [node.left, *node.comparators]
        ):
            found.append(f"{where}:{node.lineno}")
        elif isinstance(node, ast.Dict) and any(named(k) for k in node.keys if k is not None):
            found.append(f"{where}:{node.lineno}")
    return found


def test_nobody_else_matches_on_a_cells_name():
    """Outside the cell classes' declarations, layers ask the class (``cell.state_arity``,
    ``cell.torch_name``, ...); the applications' offered names index :data:`CELLS`."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path != DECLARATIONS:
            found += cell_name_matches(path.read_text(encoding="utf-8"), str(path.name))
    assert found == []


def test_the_name_check_can_fail():
    source = 'a = cell == "lstm"\nb = {"GRU": 3}\nc = {"mean": 1} if x == "min" else 0\n'
    assert cell_name_matches(source, "probe.py") == ["probe.py:1", "probe.py:2"]
