"""Raw limits of the building blocks on this machine: embedding runtimes and hnswlib.

    python bench/raw_limits.py [--sizes 10000,100000] [--onnx-threads 1,2] [--sections st,onnx,hnsw]

Each section runs in its own child process so its RSS is its own (torch would otherwise
inflate the ONNX figure). Prints a table; asserts nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SUBJECTS = ["Alice", "The agent", "My manager", "Our team", "Bob's sister", "The new intern"]
VERBS = ["prefers", "dislikes", "is planning", "keeps forgetting", "asked about", "recommended"]
OBJECTS = ["green tea in the morning", "a trip to Lisbon next spring", "the quarterly budget review",
           "vegetarian restaurants near the office", "running a half marathon", "learning Rust on weekends"]


def sentences(n: int) -> list[str]:
    return [f"{SUBJECTS[i % 6]} {VERBS[(i // 6) % 6]} {OBJECTS[(i // 36) % 6]} (note {i})." for i in range(n)]


def rss_mb() -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def batch64_per_s(encode: Callable[[list[str]], Any]) -> float:
    """Sentences a second in passes of 64: the median of 8 passes, after one to warm up."""
    batch_texts = sentences(64)
    encode(batch_texts)  # warm up allocator and kernels
    runs = timed(lambda: encode(batch_texts), 8)
    return 64 / (statistics.median(runs) / 1000)


def encode_figures(encode: Callable[[list[str]], Any]) -> dict[str, float]:
    batch = batch64_per_s(encode)
    singles = sentences(200)
    single = [timed(lambda t=t: encode([t]), 1)[0] for t in singles]
    return {
        "batch64_per_s": batch,
        "single_p50_ms": statistics.median(single),
        "single_p95_ms": percentile(single, 95),
    }


def section_st(args: argparse.Namespace) -> dict[str, Any]:
    start = time.perf_counter()
    import torch
    from sentence_transformers import SentenceTransformer

    from memory.providers.onnx_model import model_dir

    torch.set_num_threads(args.torch_threads)
    model = SentenceTransformer(str(model_dir()), device="cpu")
    load_s = time.perf_counter() - start
    figures = encode_figures(lambda t: model.encode(t, batch_size=64, normalize_embeddings=True))
    figures["rss_mb"], figures["peak_rss_mb"] = rss_mb()
    return {"name": f"sentence-transformers (torch, {args.torch_threads} threads)", "load_s": load_s, **figures}


def _one_pass_batches() -> None:
    """The raw batch-64 figure is one pass of 64 texts: the service splits long batches into
    passes of at most PASS_TOKENS token rows (which costs short texts a few percent)."""
    from memory.providers import onnx_model

    onnx_model.PASS_TOKENS = 1 << 30


def section_onnx(args: argparse.Namespace) -> dict[str, Any]:
    start = time.perf_counter()
    from memory.providers.local_embedder import OnnxEmbedder

    _one_pass_batches()

    embedder = OnnxEmbedder(args.onnx_path, threads=args.threads, export_if_missing=False, max_wait_ms=2.0)
    embedder._ensure_loaded()  # the bench drives the runtime directly, without the batcher
    load_s = time.perf_counter() - start
    figures = encode_figures(embedder._encode)
    figures["rss_mb"], figures["peak_rss_mb"] = rss_mb()
    # a pass per text: how the service runs the int8 model with dynamic ranges, so that a text's
    # vector does not depend on what shared its pass (memory/providers/onnx_model.py); the
    # fixed-range copy a new store runs batches them
    batch = sentences(64)
    embedder._encode(batch[:8])
    apart = timed(lambda: [embedder._encode([text]) for text in batch], 8)
    figures["batch64_pass_per_text_per_s"] = 64 / (statistics.median(apart) / 1000)
    figures["lone_embed_wait2_p50_ms"] = asyncio.run(_through_embedder(embedder))
    eager = OnnxEmbedder(args.onnx_path, threads=args.threads, export_if_missing=False, max_wait_ms=0)
    eager._ensure_loaded()
    figures["lone_embed_wait0_p50_ms"] = asyncio.run(_through_embedder(eager))
    figures["burst64_wait2_per_s"] = asyncio.run(_burst(OnnxEmbedder, args, 2.0))
    figures["burst64_wait0_per_s"] = asyncio.run(_burst(OnnxEmbedder, args, 0.0))
    return {"name": f"onnxruntime ({args.threads} intra-op threads)", "load_s": load_s, **figures}


def section_onnx_batch(args: argparse.Namespace) -> dict[str, Any]:
    """The batch-64 figure of `section_onnx` alone (~1 s after imports): what server_bench.py
    measures again beside each load it compares with it."""
    from memory.providers.local_embedder import OnnxEmbedder

    _one_pass_batches()
    embedder = OnnxEmbedder(args.onnx_path, threads=args.threads, export_if_missing=False)
    embedder._ensure_loaded()
    return {"name": f"onnxruntime batch-64 ({args.threads} intra-op threads)",
            "batch64_per_s": batch64_per_s(embedder._encode)}


async def _through_embedder(embedder: Any) -> float:
    texts = sentences(100)
    samples = []
    for text in texts:  # a lone caller: includes max_wait_ms and the thread hop
        start = time.perf_counter()
        await embedder.embed([text])
        samples.append((time.perf_counter() - start) * 1000)
    await embedder.aclose()
    return statistics.median(samples)


async def _burst(cls: Any, args: argparse.Namespace, wait_ms: float) -> float:
    """64 concurrent one-sentence callers, 10 rounds: what the micro-batcher buys."""
    embedder = cls(args.onnx_path, threads=args.threads, export_if_missing=False, max_wait_ms=wait_ms)
    await embedder.warmup()
    texts = sentences(640)
    start = time.perf_counter()
    for r in range(10):
        await asyncio.gather(*(embedder.embed([t]) for t in texts[r * 64 : (r + 1) * 64]))
    elapsed = time.perf_counter() - start
    await embedder.aclose()
    return 640 / elapsed


def section_hnsw(args: argparse.Namespace) -> dict[str, Any]:
    import hnswlib
    import numpy as np

    n = args.size
    rng = np.random.default_rng(0)
    data = rng.standard_normal((n, 384), dtype=np.float32)
    index = hnswlib.Index(space="cosine", dim=384)
    index.init_index(max_elements=n, M=16, ef_construction=200)
    start = time.perf_counter()
    index.add_items(data, np.arange(n), num_threads=2)
    build_s = time.perf_counter() - start
    index.set_ef(64)
    queries = rng.standard_normal((1000, 384), dtype=np.float32)
    lat = [timed(lambda q=q: index.knn_query(q, k=10, num_threads=1), 1)[0] for q in queries]
    allowed = set(range(0, n, 10))  # 10% allowed: cost of the Python filter callback
    filt = [timed(lambda q=q: index.knn_query(q, k=10, num_threads=1, filter=allowed.__contains__), 1)[0]
            for q in queries[:300]]
    result = {"name": f"hnswlib {n:,} x 384 (M=16, efc=200, ef=64, k=10)", "build_per_s": n / build_s,
              "knn_p50_ms": statistics.median(lat), "knn_p95_ms": percentile(lat, 95),
              "filter10pct_p50_ms": statistics.median(filt)}
    result["rss_mb"], result["peak_rss_mb"] = rss_mb()
    if n <= args.wrapper_max:
        result.update(asyncio.run(_wrapper_figures(index, data)))
    return result


async def _wrapper_figures(raw: Any, data: Any) -> dict[str, float]:
    """HnswIndex on top: lock + thread hop per query, and readers-writer vs one exclusive lock."""
    from vector.hnsw import HnswIndex

    wrapped = HnswIndex(None, dimension=384)
    wrapped._index = raw
    wrapped._label_to_id = {i: f"m{i}" for i in range(len(data))}
    wrapped._id_to_label = {m: i for i, m in wrapped._label_to_id.items()}
    wrapped._next_label = len(data)
    queries = data[:400] + 0.1
    single = []
    for q in queries:
        start = time.perf_counter()
        await wrapped.nearest(q, 10)
        single.append((time.perf_counter() - start) * 1000)
    out = {"wrapped_p50_ms": statistics.median(single)}
    for label, exclusive in (("rw", False), ("one_lock", True)):
        async def one(q: Any) -> None:
            await wrapped._locked(exclusive, wrapped._nearest_sync, q[None, :], 10, None, False)

        start = time.perf_counter()
        for chunk in range(0, len(queries), 8):  # 8 concurrent searchers
            await asyncio.gather(*(one(q) for q in queries[chunk : chunk + 8]))
        out[f"qps_8way_{label}"] = len(queries) / (time.perf_counter() - start)
    return out


def run_child(section: str, extra: list[str]) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--section", section, *extra]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        return {"name": f"{section} {' '.join(extra)}", "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--sections", default="st,onnx,hnsw")
    parser.add_argument("--onnx-threads", default="1,2")
    parser.add_argument("--torch-threads", type=int, default=2)
    parser.add_argument("--wrapper-max", type=int, default=100000, help="largest size to time HnswIndex on")
    parser.add_argument("--onnx-path", type=Path, default=None)
    parser.add_argument("--section", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.section:
        sections = {"st": section_st, "onnx": section_onnx, "onnx_batch": section_onnx_batch, "hnsw": section_hnsw}
        result = sections[args.section](args)
        result["loadavg_1m"] = os.getloadavg()[0]  # other work on the 2 cores skews every figure
        print(json.dumps(result))
        return
    rows = []
    sections = args.sections.split(",")
    common = ["--torch-threads", str(args.torch_threads), "--wrapper-max", str(args.wrapper_max)]
    if args.onnx_path:
        common += ["--onnx-path", str(args.onnx_path)]
    if "onnx" in sections and not args.onnx_path:
        # export up front in its own process, so no section process carries torch for it
        subprocess.run([sys.executable, "-c", "from memory.providers.onnx_model import *; "
                        "p = default_onnx_path(model_dir()); p.exists() or export_onnx(model_dir(), p)"],
                       check=True, cwd=ROOT, capture_output=True)
    if "st" in sections:
        rows.append(run_child("st", common))
    if "onnx" in sections:
        rows += [run_child("onnx", [*common, "--threads", t]) for t in args.onnx_threads.split(",")]
    if "hnsw" in sections:
        rows += [run_child("hnsw", [*common, "--size", s]) for s in args.sizes.split(",")]
    for row in rows:
        print(f"\n{row.pop('name')}")
        for key, value in row.items():
            print(f"  {key:<28} {value:>12.2f}" if isinstance(value, float) else f"  {key:<28} {value!s:>12}")


if __name__ == "__main__":
    main()
