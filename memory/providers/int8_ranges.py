"""The int8 model with fixed activation ranges: the variant whose passes may batch texts.

The dynamically quantised model (`quantize_onnx`) quantises each layer's input with the range of
the whole pass. Batched, a text's activations were scaled by its neighbours' (and their padding's)
range, and its vector moved to cosine ~0.95 against the same text alone; so that variant runs one
text a pass. Here every dynamic quantisation is replaced by a fixed one, with the range that input
took over a fixed corpus (`calibration.txt`, each text alone): a row's quantisation then depends on
that row only, and a batched pass gives each text its vector alone (to float rounding), at ~1.2-1.5x
the one-a-pass throughput on the 2-core machine. On LoCoMo's texts it is as close to the float32
model as the dynamic variant (mean cosine 0.951 against 0.952; the same top-10 neighbours).

The ranges are rounded outward to a grid, so that float rounding on another CPU gives the same
file; changing the corpus or the grid makes another vector space (a new `VectorSpace.weights`)."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from memory.errors import ProviderError

CALIBRATION = Path(__file__).with_name("calibration.txt")
GRID = 16  # ranges widened to multiples of 1/16


def static_path(onnx_path: Path) -> Path:
    """Where the fixed-range int8 copy of an exported model lives, beside it."""
    return onnx_path.with_name(f"{onnx_path.stem}-int8-static{onnx_path.suffix}")


def calibration_texts() -> list[str]:
    return [line for line in CALIBRATION.read_text(encoding="utf-8").splitlines() if line.strip()]


def fix_activation_ranges(dynamic: Path, target: Path, tokenizer_file: Path, max_length: int) -> Path:
    """Write `dynamic` (the int8 model of `quantize_onnx`) with each DynamicQuantizeLinear replaced
    by a QuantizeLinear of the range its input took over the calibration corpus. Written to a
    temporary file first, so a crash never leaves a half-written model behind."""
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError as exc:
        raise ProviderError(f"fixing the int8 model's ranges needs the onnx package (pip install '.[torch]'): {exc}")
    model = onnx.load(str(dynamic))
    dynamic_nodes = [n for n in model.graph.node if n.op_type == "DynamicQuantizeLinear"]
    if not dynamic_nodes:
        raise ProviderError(f"{dynamic} has no dynamic quantisation to fix")
    inputs = [n.input[0] for n in dynamic_nodes]
    ranges = _observed_ranges(model, inputs, tokenizer_file, max_length)
    kept = []
    for node in model.graph.node:
        if node.op_type != "DynamicQuantizeLinear":
            kept.append(node)
            continue
        low, high = ranges[node.input[0]]
        scale, zero = _uint8_quantisation(low, high)
        quantized, scale_name, zero_name = node.output  # the consumers keep reading these names
        model.graph.initializer.append(numpy_helper.from_array(np.array(scale, dtype=np.float32), scale_name))
        model.graph.initializer.append(numpy_helper.from_array(np.array(zero, dtype=np.uint8), zero_name))
        kept.append(helper.make_node("QuantizeLinear", [node.input[0], scale_name, zero_name], [quantized],
                                     name=f"{node.name}_fixed"))
    del model.graph.node[:]
    model.graph.node.extend(_to_float_products(kept, {t.name for t in model.graph.initializer}))
    if not any(opset.domain == "com.microsoft" for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    partial = target.with_name(target.name + ".partial")
    onnx.save(model, str(partial))
    os.replace(partial, target)
    return target


def _observed_ranges(model: object, names: list[str], tokenizer_file: Path, max_length: int) -> dict[str, tuple[float, float]]:
    """Each named tensor's (min, max) over the calibration texts, each run alone (no padding)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper
    from tokenizers import Tokenizer

    probe = onnx.ModelProto()
    probe.CopyFrom(model)  # type: ignore[arg-type]
    for name in names:
        probe.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keeps the names
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.enable_truncation(max_length=max_length)
    low = dict.fromkeys(names, 0.0)  # the range holds 0, as a uint8 quantisation's must
    high = dict.fromkeys(names, 0.0)
    for text in calibration_texts():
        encoding = tokenizer.encode(text)
        feed = {"input_ids": np.array([encoding.ids], dtype=np.int64),
                "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
                "token_type_ids": np.array([encoding.type_ids], dtype=np.int64)}
        for name, value in zip(names, session.run(names, {k: v for k, v in feed.items() if k in wanted})):
            low[name] = min(low[name], float(value.min()))
            high[name] = max(high[name], float(value.max()))
    return {name: (math.floor(low[name] * GRID) / GRID, math.ceil(high[name] * GRID) / GRID) for name in names}


def _to_float_products(nodes: list[Any], constants: set[str]) -> list[Any]:
    """`nodes` with each integer product and what scales it back to float (MatMulInteger, Cast,
    Mul by the product of the two scales, and an Add of a constant bias) as one of onnxruntime's
    MatMulIntegerToFloat. It fuses that pattern itself only when the input's scale is computed,
    as with dynamic ranges: with a fixed scale the pattern is folded first, and a one-text pass
    took ~20% longer than the dynamic model's (2.0 against 1.7 ms; fused: 1.75)."""
    from onnx import helper

    readers: dict[str, list[Any]] = {}
    for node in nodes:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    writer = {name: node for node in nodes for name in node.output}
    gone: set[int] = set()
    fused: dict[int, Any] = {}  # by the replaced chain's last node
    for product in nodes:
        if product.op_type != "MatMulInteger" or len(product.input) != 4:
            continue
        cast = _only_reader(readers, product.output[0], "Cast")
        scaled = cast and _only_reader(readers, cast.output[0], "Mul")
        if not scaled:
            continue
        scales = writer.get(next((n for n in scaled.input if n != cast.output[0]), ""))
        if scales is None or scales.op_type != "Mul" or len(scales.input) != 2:
            continue
        inputs = [product.input[0], product.input[1], scales.input[0], scales.input[1], product.input[2],
                  product.input[3]]
        chain, last = [product, cast, scaled], scaled
        bias = _only_reader(readers, scaled.output[0], "Add")
        if bias is not None and (constant := next((n for n in bias.input if n in constants), None)):
            inputs.append(constant)
            chain, last = chain + [bias], bias
        gone.update(id(node) for node in chain)
        fused[id(last)] = helper.make_node("MatMulIntegerToFloat", inputs, [last.output[0]],
                                           name=f"{product.name}_to_float", domain="com.microsoft")
    out = [fused.get(id(node), node) for node in nodes if id(node) not in gone or id(node) in fused]
    # the scale products nothing reads any more
    read = {name for node in out for name in node.input}
    return [node for node in out if node.op_type != "Mul" or any(name in read for name in node.output)
            or not set(node.input) <= constants]


def _only_reader(readers: dict[str, list[Any]], name: str, op_type: str) -> Any:
    found = readers.get(name, [])
    return found[0] if len(found) == 1 and found[0].op_type == op_type else None


def _uint8_quantisation(low: float, high: float) -> tuple[float, int]:
    """Scale and zero point mapping [low, high] (which holds 0) onto 0..255."""
    scale = (high - low) / 255.0 or 1.0
    return scale, int(min(255, max(0, round(-low / scale))))
