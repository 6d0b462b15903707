"""The fixed-range int8 model's making (memory/providers/int8_ranges.py); its vectors are checked
with the real model in tests/integration/test_local_embedder.py."""
from __future__ import annotations

import hashlib
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from memory.errors import ProviderError
from memory.providers.int8_ranges import CALIBRATION, _uint8_quantisation, fix_activation_ranges, static_path

# the corpus decides the ranges, and so the vector space "int8-static" names: stores embedded with
# it would no longer match a model calibrated on another. Change it only with a new weights name.
CALIBRATION_SHA256 = "5956fc4430f13d42da96c49c5a3fc49636c5a60f80467891f0a64fbda10ac185"


def test_the_calibration_corpus_is_the_one_the_int8_static_space_was_made_with() -> None:
    assert hashlib.sha256(CALIBRATION.read_bytes()).hexdigest() == CALIBRATION_SHA256


@pytest.mark.parametrize(("low", "high"), [(-2.875, 6.375), (-0.1875, 25.125), (0.0, 3.0), (-4.0, 0.0)])
def test_a_fixed_range_maps_onto_uint8_with_zero_exact(low: float, high: float) -> None:
    scale, zero = _uint8_quantisation(low, high)
    assert 0 <= zero <= 255
    assert abs(round(low / scale) + zero) <= 1 and abs(round(high / scale) + zero - 255) <= 1
    assert (0.0 / scale) + zero == zero  # 0 (padding, ReLU-like zeros) is represented exactly


def test_a_model_without_dynamic_quantisation_is_refused(tmp_path: Path) -> None:
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "plain",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    source = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph), str(source))
    with pytest.raises(ProviderError, match="no dynamic quantisation"):
        fix_activation_ranges(source, static_path(source), tmp_path / "tokenizer.json", 256)
    assert not static_path(source).exists() and static_path(source).name == "plain-int8-static.onnx"
