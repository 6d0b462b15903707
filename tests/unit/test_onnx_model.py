"""How OnnxModel groups texts into forward passes (memory/providers/onnx_model.py); its vectors,
batched and alone, are checked with the real model in tests/integration/test_local_embedder.py."""
from __future__ import annotations

from memory.providers.onnx_model import PASS_TOKENS, OnnxModel


def test_the_fixed_range_model_batches_texts_by_length_within_a_token_budget() -> None:
    lengths = [12, 256, 9, 40, 12, 100, 3]
    passes = OnnxModel(quantized=True, static_ranges=True)._passes(lengths)
    assert sorted(i for group in passes for i in group) == list(range(len(lengths)))  # each text once
    # by length, shortest first, each pass at most PASS_TOKENS token rows (texts x its longest)
    assert [lengths[i] for group in passes for i in group] == sorted(lengths)
    assert all(len(group) * max(lengths[i] for i in group) <= PASS_TOKENS or len(group) == 1 for group in passes)
    assert [len(group) for group in passes] == [5, 1, 1]  # 3, 9, 12, 12, 40 (5 x 40) | 100 | 256


def test_an_empty_input_is_no_pass() -> None:
    assert OnnxModel(quantized=True, static_ranges=True)._passes([]) == []
