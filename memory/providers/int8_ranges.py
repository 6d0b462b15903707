"""The int8 model with fixed activation ranges: the variant whose passes may batch texts.

The dynamically quantised model (`quantize_onnx`) quantises each layer's input with the range of
the whole pass. Batched, a text's activations were scaled by its neighbours' (and their padding's)
range, and its vector moved to cosine ~0.95 against the same text alone; so that variant runs one
text a pass. Here every dynamic quantisation is replaced by a fixed one, with the range that input
took over a fixed corpus (`calibration.txt`, each text alone): a row's quantisation then depends on
that row only, and a batched pass gives each text its vector alone (to float rounding). On 300
LoCoMo turns it is as close to the float32 model as the dynamic variant (mean cosine 0.950
against 0.952; the same share of top-10 neighbours).

The ranges are data (`int8_ranges.json`, measured once by tools/calibrate_int8.py), not measured
where the model is made: the vector space "int8-static" names then has the same ranges on every
machine. Changing them makes another vector space (a new `VectorSpace.weights`), and another
model file (its name carries their checksum).
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from memory.errors import ProviderError

CALIBRATION = Path(__file__).with_name("calibration.txt")
RANGES = Path(__file__).with_name("int8_ranges.json")
GRID = 16  # ranges widened to multiples of 1/16
_REWRITE = "qlinear-mmitf-v1"  # bump when the rewrite of the graph changes


def static_path(onnx_path: Path) -> Path:
    """Where the fixed-range int8 copy of an exported model lives, beside it: named by the
    ranges' checksum, so that a cached copy made with other ranges is never taken for it. (A
    CRC, not a hash: hashlib would load OpenSSL into the model process, ~4 MiB, for this alone.)"""
    checksum = zlib.crc32(RANGES.read_bytes() + _REWRITE.encode())
    return onnx_path.with_name(f"{onnx_path.stem}-int8-static-{checksum:08x}{onnx_path.suffix}")


def fix_activation_ranges(dynamic: Path, target: Path) -> Path:
    """Write `dynamic` (the int8 model of `quantize_onnx`) with each DynamicQuantizeLinear
    replaced by a QuantizeLinear of its range in `int8_ranges.json`, and each integer product
    fused with its scaling back to float; checked by a pass before it takes `target`'s name."""
    onnx, helper, numpy_helper = _onnx()
    model = onnx.load(str(dynamic))
    ranges: dict[str, list[float]] = json.loads(RANGES.read_text())["ranges"]
    quantizations = [n for n in model.graph.node if n.op_type == "DynamicQuantizeLinear"]
    if not quantizations:
        raise ProviderError(f"{dynamic} has no dynamic quantisation to fix")
    unknown = sorted({n.input[0] for n in quantizations} - set(ranges))
    if unknown:
        raise ProviderError(f"{RANGES.name} has no range for {len(unknown)} of {dynamic.name}'s quantised inputs "
                            "(another export?): new ranges (tools/calibrate_int8.py) make a new vector space")
    kept = []
    for node in model.graph.node:
        if node.op_type != "DynamicQuantizeLinear":
            kept.append(node)
            continue
        scale, zero = _uint8_quantisation(*ranges[node.input[0]])
        quantized, scale_name, zero_name = node.output  # the consumers keep reading these names
        model.graph.initializer.append(numpy_helper.from_array(np.array(scale, dtype=np.float32), scale_name))
        model.graph.initializer.append(numpy_helper.from_array(np.array(zero, dtype=np.uint8), zero_name))
        kept.append(helper.make_node("QuantizeLinear", [node.input[0], scale_name, zero_name], [quantized],
                                     name=f"{node.name}_fixed"))
    del model.graph.node[:]
    model.graph.node.extend(_to_float_products(kept, {t.name for t in model.graph.initializer},
                                               {o.name for o in model.graph.output}))
    if not any(opset.domain == "com.microsoft" for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    partial = temporary_beside(target)
    try:
        onnx.save(model, str(partial))
        _check_runs(partial)
        os.replace(partial, target)  # another process making it meanwhile wrote the same file
    finally:
        partial.unlink(missing_ok=True)
    return target


def temporary_beside(target: Path) -> Path:
    """A new empty file beside `target` to write it in, then rename: a name no other writer (in
    this or another container sharing the directory) has."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    os.close(fd)
    os.chmod(name, 0o644)  # as a file written in place would be: readable by the service's other users
    return Path(name)


def calibrate(dynamic: Path, tokenizer_file: Path, max_length: int) -> dict[str, list[float]]:
    """Each dynamically quantised input's (min, max) over the calibration texts, each run alone
    (no padding), widened to the grid and to hold 0."""
    onnx, helper, _ = _onnx()
    import onnxruntime as ort
    from tokenizers import Tokenizer

    model = onnx.load(str(dynamic))
    names = [n.input[0] for n in model.graph.node if n.op_type == "DynamicQuantizeLinear"]
    for name in names:
        model.graph.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keeps the names
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.enable_truncation(max_length=max_length)
    low, high = dict.fromkeys(names, 0.0), dict.fromkeys(names, 0.0)
    for text in (line for line in CALIBRATION.read_text(encoding="utf-8").splitlines() if line.strip()):
        encoding = tokenizer.encode(text)
        feed = {"input_ids": [encoding.ids], "attention_mask": [encoding.attention_mask],
                "token_type_ids": [encoding.type_ids]}
        wanted = {i.name for i in session.get_inputs()}
        arrays = {k: np.array(v, dtype=np.int64) for k, v in feed.items() if k in wanted}
        for name, value in zip(names, session.run(names, arrays)):
            low[name], high[name] = min(low[name], float(value.min())), max(high[name], float(value.max()))
    return {name: [math.floor(low[name] * GRID) / GRID, math.ceil(high[name] * GRID) / GRID] for name in names}


def _to_float_products(nodes: list[Any], constants: set[str], outputs: set[str]) -> list[Any]:
    """`nodes` with each integer product and what scales it back to float (MatMulInteger, a Cast
    to float, a Mul by the product of the two scales, and an Add of a constant bias) as one of
    onnxruntime's MatMulIntegerToFloat. onnxruntime fuses that itself only while the input's
    scale is computed, as with dynamic ranges: with a fixed one the scales' product is folded
    first, and a one-text pass took ~20% longer than the dynamic model's (1.8 against 1.6 ms;
    fused, 1.58)."""
    from onnx import TensorProto, helper

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
        if cast is None or helper.get_node_attr_value(cast, "to") != TensorProto.FLOAT:
            continue
        scaled = _only_reader(readers, cast.output[0], "Mul")
        scales = scaled and writer.get(next((n for n in scaled.input if n != cast.output[0]), ""))
        quantize = writer.get(product.input[0])
        # the product's scale is that of its quantised input times the weights'
        if (scales is None or scales.op_type != "Mul" or quantize is None or quantize.op_type != "QuantizeLinear"
                or scales.input[0] != quantize.input[1]):
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
    read = {name for node in out for name in node.input} | outputs
    # the scales' products nothing reads any more
    return [node for node in out if node.op_type != "Mul" or not set(node.input) <= constants
            or any(name in read for name in node.output)]


def _only_reader(readers: dict[str, list[Any]], name: str, op_type: str) -> Any:
    found = readers.get(name, [])
    return found[0] if len(found) == 1 and found[0].op_type == op_type else None


def _uint8_quantisation(low: float, high: float) -> tuple[float, int]:
    """Scale and zero point mapping [low, high] (which holds 0) onto 0..255."""
    scale = (high - low) / 255.0 or 1.0
    return scale, int(min(255, max(0, round(-low / scale))))


def _check_runs(path: Path) -> None:
    """One pass over a two-token input: a file onnxruntime refuses is never published."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = {i.name: np.array([[101, 102]] if i.name == "input_ids" else [[1, 1]] if i.name == "attention_mask"
                                 else [[0, 0]], dtype=np.int64) for i in session.get_inputs()}
        session.run(None, feed)
    except Exception as exc:  # noqa: BLE001  whatever the runtime says, the file is not used
        raise ProviderError(f"the fixed-range int8 model does not run: {exc}") from exc


def _onnx() -> tuple[Any, Any, Any]:
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError as exc:
        raise ProviderError(f"the int8 model's fixed ranges need the onnx package (pip install '.[torch]'): {exc}")
    return onnx, helper, numpy_helper
