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
from memory.providers.onnx_model import PASS_TOKENS, OnnxModel

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


def test_the_fixed_range_model_batches_texts_by_length_within_a_token_budget() -> None:
    model = OnnxModel(quantized=True, static_ranges=True)
    lengths = [12, 256, 9, 40, 12, 100, 3]
    passes = model._passes(lengths)
    assert sorted(i for group in passes for i in group) == list(range(len(lengths)))  # each text once
    # by length, shortest first, each pass at most PASS_TOKENS token rows (texts x its longest)
    assert [lengths[i] for group in passes for i in group] == sorted(lengths)
    assert all(len(group) * max(lengths[i] for i in group) <= PASS_TOKENS or len(group) == 1 for group in passes)
    assert [len(group) for group in passes] == [5, 1, 1]  # 3, 9, 12, 12, 40 (5 x 40) | 100 | 256
    model._one_at_a_time = True  # as load sets it for the dynamic int8 model: every text alone
    assert model._passes(lengths) == [[i] for i in range(len(lengths))]
