"""The fixed-range int8 model's making (memory/providers/int8_ranges.py); its vectors are checked
with the real model in tests/integration/test_local_embedder.py."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from memory.errors import ProviderError
from memory.providers import int8_ranges
from memory.providers.int8_ranges import (
    CALIBRATION, RANGES, _to_float_products, _uint8_quantisation, fix_activation_ranges, static_path,
)

onnx = pytest.importorskip("onnx")  # the torch extra's: making the model needs it
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

# the ranges decide the vector space "int8-static" names: stores embedded with them would no longer
# match a model with others. Change them (or the corpus they were measured on) only with a new
# weights name (memory/vector_space.py, app/settings.py)
RANGES_SHA256 = "351bb90d6696b2f3b07e9d179bfd8a02f8d19aa776dce7b916b6de464f781b49"
CORPUS_SHA256 = "7cf31a975b52fa999b4aa31502ca5ea3c47e60bd2fdeb1b5b18ddaf7a1005baf"


def test_the_ranges_are_those_the_int8_static_space_was_made_with_from_the_corpus_kept() -> None:
    assert hashlib.sha256(RANGES.read_bytes()).hexdigest() == RANGES_SHA256
    assert hashlib.sha256(CALIBRATION.read_bytes()).hexdigest() == CORPUS_SHA256
    assert json.loads(RANGES.read_text())["corpus_sha256"] == CORPUS_SHA256


def test_the_model_file_is_named_by_its_ranges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = static_path(tmp_path / "minilm.onnx").name
    assert name.startswith("minilm-int8-static-") and name.endswith(".onnx") and len(name) == len("minilm-int8-static-.onnx") + 8
    other = json.loads(RANGES.read_text())
    first = next(iter(other["ranges"]))
    other["ranges"][first][1] += 1 / 16
    (tmp_path / "ranges.json").write_text(json.dumps(other))
    monkeypatch.setattr(int8_ranges, "RANGES", tmp_path / "ranges.json")
    assert static_path(tmp_path / "minilm.onnx").name != name  # a file made with other ranges is another file


@pytest.mark.parametrize(("low", "high"), [(-2.875, 6.375), (-0.1875, 25.125), (0.0, 3.0), (-4.0, 0.0), (0.0, 0.0)])
def test_a_fixed_range_maps_onto_uint8_with_zero_exact(low: float, high: float) -> None:
    scale, zero = _uint8_quantisation(low, high)
    assert scale > 0 and 0 <= zero <= 255
    if high > low:
        assert abs(round(low / scale) + zero) <= 1 and abs(round(high / scale) + zero - 255) <= 1
        assert zero == round(-low / scale)  # 0 (padding, GELU's zeros) quantises exactly


def test_a_model_without_dynamic_quantisation_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "plain",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    source = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph), str(source))
    with pytest.raises(ProviderError, match="no dynamic quantisation"):
        fix_activation_ranges(source, static_path(source))
    assert [p.name for p in tmp_path.iterdir()] == ["plain.onnx"]


def test_a_made_model_the_runtime_refuses_is_not_published_nor_left_half_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    graph = helper.make_graph([helper.make_node("DynamicQuantizeLinear", ["x"], ["q", "s", "z"])], "dynamic",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("q", TensorProto.UINT8, [2])])
    source = tmp_path / "dynamic.onnx"
    onnx.save(helper.make_model(graph), str(source))
    (tmp_path / "ranges.json").write_text(json.dumps({"ranges": {"x": [-1.0, 1.0]}}))
    monkeypatch.setattr(int8_ranges, "RANGES", tmp_path / "ranges.json")

    def refused(path: Path) -> None:
        assert path.is_file() and path.parent == tmp_path  # written beside the target, under another name
        raise ProviderError("the fixed-range int8 model does not run: refused")

    monkeypatch.setattr(int8_ranges, "_check_runs", refused)
    with pytest.raises(ProviderError, match="does not run"):
        fix_activation_ranges(source, tmp_path / "fixed.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dynamic.onnx", "ranges.json"]


def _product(cast_to: int = TensorProto.FLOAT) -> onnx.ModelProto:
    """x -> QuantizeLinear -> MatMulInteger(w) -> Cast -> Mul(x_scale * w_scale) -> Add(bias): the
    shape of every product in the fixed-range model before its fusion."""
    rng = np.random.default_rng(7)
    consts = [numpy_helper.from_array(np.array(0.05, np.float32), "x_scale"),
              numpy_helper.from_array(np.array(128, np.uint8), "x_zero"),
              numpy_helper.from_array(rng.integers(-127, 127, (4, 3)).astype(np.int8), "w"),
              numpy_helper.from_array(np.array(0, np.int8), "w_zero"),
              numpy_helper.from_array(np.array(0.02, np.float32), "w_scale"),
              numpy_helper.from_array(np.array([0.5, -1.0, 2.0], np.float32), "bias")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zero"], ["xq"]),
             helper.make_node("MatMulInteger", ["xq", "w", "x_zero", "w_zero"], ["acc"]),
             helper.make_node("Cast", ["acc"], ["accf"], to=cast_to),
             helper.make_node("Mul", ["x_scale", "w_scale"], ["scales"]),
             helper.make_node("Mul", ["accf", "scales"], ["scaled"]),
             helper.make_node("Add", ["bias", "scaled"], ["y"])]
    out_type = TensorProto.FLOAT if cast_to == TensorProto.FLOAT else cast_to
    graph = helper.make_graph(nodes, "product", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                              [helper.make_tensor_value_info("y", out_type, [2, 3])], consts)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"x": x})[0])


def test_an_integer_product_and_its_scaling_become_one_fused_node_with_the_same_result() -> None:
    model = _product()
    x = np.random.default_rng(3).normal(size=(2, 4)).astype(np.float32)
    before = _run(model, x)
    constants = {t.name for t in model.graph.initializer}
    fused = _to_float_products(list(model.graph.node), constants, {"y"})
    assert [n.op_type for n in fused] == ["QuantizeLinear", "MatMulIntegerToFloat"]  # the scales' product gone too
    del model.graph.node[:]
    model.graph.node.extend(fused)
    assert np.allclose(_run(model, x), before, atol=1e-5)


def test_a_product_not_scaled_back_to_float_is_left_alone() -> None:
    model = _product(cast_to=TensorProto.DOUBLE)
    nodes = list(model.graph.node)
    assert _to_float_products(nodes, {t.name for t in model.graph.initializer}, {"y"}) == nodes
