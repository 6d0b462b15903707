"""The default local embedder: all-MiniLM-L6-v2 (384-d, L2-normalised float32).

Two runtimes behind the same port:
- `OnnxEmbedder` (default): onnxruntime + `tokenizers` (memory/providers/onnx_model.py), ~0.2 s
  to load and ~105 MiB RSS for the session (one copy of the weights; disabling pre-packing or
  the memory pattern saved nothing after load and slowed a single encode 2-5x, one run on a
  loaded machine). The ONNX graph already contains mean pooling and normalisation; it is
  exported once from the bundled weights (`export_onnx`) and cached.
- `SentenceTransformerEmbedder`: the reference torch runtime (~3.5 s to load, ~530 MB RSS).

Both run the model in one dedicated thread fed by a MicroBatcher, so the event loop never
blocks and two forward passes never compete for the 2 cores; thread counts are pinned for the
same reason. An isolated OnnxEmbedder runs it in a child process instead
(memory/providers/model_process.py), whose passes never wait for this process's GIL. The
batcher's wait defaults to 0 here: callers started on the same loop tick still share a pass,
and callers arriving while a pass runs share the next one, so batches form under load anyway,
while a 2 ms wait added ~2.5 ms to a lone search's embed (about 4 -> 6.5 ms) with no clear gain
in burst throughput (bench/raw_limits.py). Nothing is loaded in __init__: the composition root
calls `warmup` during start-up (load + one pass), and the first `embed` would load it otherwise.

Export from the command line:  python -m memory.providers.local_embedder export [--out PATH]
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from memory.errors import ProviderError
from memory.models import Vector
from memory.ports import BatchHook, EmbedderState
from memory.providers.batching import MicroBatcher
from memory.providers.model_process import ModelProcess
from memory.providers.onnx_model import (
    DEFAULT_CACHE_DIR,
    DIMENSION,
    OnnxModel,
    checked,
    default_onnx_path,
    export_onnx,
    model_dir,
    offline,
)

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
            # a pass is written to the child as it is handed over: it encodes while the loop goes on
            submit=process.submit if process is not None else None, depth=2 if process is not None else 1)
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
        else:
            await self._batcher.run(lambda: self.forward_here(["warm-up"]))

    def state(self) -> EmbedderState:
        return self._batcher.state(loaded=self._warm if self._process is None else self._process.ready)

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

    def forward_here(self, texts: list[str]) -> np.ndarray:
        """One pass on the calling thread (the model thread)."""
        rows = checked(self._loaded_encode, texts)
        self._warm = True
        return rows

    def _loaded_encode(self, texts: list[str]) -> np.ndarray:
        self._ensure_loaded()
        return self._encode(texts)

    @abstractmethod
    def _load(self, model_path: Path) -> None:
        """Load the runtime's model (on the worker thread, on first use)."""

    @abstractmethod
    def _encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 rows (the model's passes: OnnxModel.encode)."""

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
        static_ranges: bool = False,
        isolated: bool = False,
    ) -> None:
        """`onnx_path` defaults to a file under `cache_dir`; when missing it is exported (in a
        child process, so torch never stays resident here) if `export_if_missing` and torch is
        installed. `threads` pins onnxruntime's intra-op pool. `on_idle` runs on the model
        thread after a pass that leaves nothing queued (the entry point's heap release).
        `quantized` runs the int8 copy of the default model (made from it once, `quantize_onnx`);
        with `static_ranges`, its copy with fixed activation ranges (int8_ranges.py), whose passes
        batch texts; without, the int8 model runs a pass per text.
        `isolated` runs the model in a child process of its own (memory/providers/model_process.py):
        its passes then never wait for this process's GIL."""
        self._model = OnnxModel(onnx_path, cache_dir=cache_dir, threads=threads, export_if_missing=export_if_missing,
                                quantized=quantized, static_ranges=static_ranges)
        process = None
        if isolated:
            # the default model file's name is resolved here, where OpenSSL is loaded anyway: it is a
            # hash, and the model process would load OpenSSL (~4 MiB RSS) for nothing else
            try:
                options = self._model.options(model_path or model_dir())
            except ProviderError:  # no model package: the model process says so when it loads
                options = self._model.options()
            argv = ["-m", "memory.providers.onnx_model", "serve", json.dumps(options)]
            if model_path is not None:
                argv += ["--model-dir", str(model_path)]
            process = ModelProcess(argv, DIMENSION, "onnx-embed")
        super().__init__(model_path, max_batch, max_wait_ms, "onnx-embed", on_idle, process)

    @property
    def onnx_path(self) -> Path | None:
        if self._process is not None and self._process.loaded.get("onnx_path"):
            return Path(self._process.loaded["onnx_path"])  # as the model process resolved it
        return self._model.onnx_path

    @property
    def process_id(self) -> int | None:
        """The model process's pid, while it runs (isolated only)."""
        return self._process.pid if self._process is not None else None

    def _load(self, model_path: Path) -> None:
        self._model.load(model_path)

    def _unload(self) -> None:
        self._model.unload()

    def _encode(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(texts)


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
        offline()
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
    args = parser.parse_args(argv)
    source = args.model_dir or model_dir()
    out = export_onnx(source, args.out or default_onnx_path(source))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
