"""What filing memories under categories by embedding costs an add (prints figures, asserts nothing).

The classifier reuses the memory's embedding (computed for the index anyway) and embeds a set's
descriptions once; each add then pays one (1 x 384) @ (384 x categories) product. Printed: the
one-off description embedding, the per-add classification, and, for scale, one memory's
embedding with the same local model (all-MiniLM-L6-v2, ONNX, one thread).

    python bench/category_cost.py [--adds 500]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.process import pin_threads  # noqa: E402

pin_threads()

from memory.categories import DEFAULT_CATEGORIES, CategoryClassifier  # noqa: E402
from memory.providers.local_embedder import OnnxEmbedder  # noqa: E402

TEXTS = ["I love eating sushi and ramen", "My sister Maria lives in Madrid", "I work as a nurse at St. Mary's",
         "I play tennis every Saturday", "We are flying to Japan next spring", "I listen to jazz while working"]


async def main(adds: int) -> None:
    embedder = OnnxEmbedder(threads=1)
    await embedder.warmup()
    classifier = CategoryClassifier(embedder, threshold=0.2, max_per_memory=3)
    texts = [TEXTS[i % len(TEXTS)] + f" ({i})" for i in range(adds)]
    embed_ms = []
    vectors = []
    for text in texts[:50]:
        start = time.perf_counter()
        vectors.append((await embedder.embed([text]))[0])
        embed_ms.append((time.perf_counter() - start) * 1e3)
    vectors = [vectors[i % len(vectors)] for i in range(adds)]
    start = time.perf_counter()
    await classifier.classify(vectors[:1], DEFAULT_CATEGORIES)
    first_ms = (time.perf_counter() - start) * 1e3
    each_us = []
    for vec in vectors:
        start = time.perf_counter()
        await classifier.classify([vec], DEFAULT_CATEGORIES)
        each_us.append((time.perf_counter() - start) * 1e6)
    print(f"descriptions of {len(DEFAULT_CATEGORIES)} categories embedded once: {first_ms:.1f} ms")
    print(f"classification per add: p50 {statistics.median(each_us):.1f} µs, "
          f"p95 {sorted(each_us)[int(len(each_us) * 0.95)]:.1f} µs over {adds} adds")
    print(f"for scale, one memory's embedding: p50 {statistics.median(embed_ms):.2f} ms")
    for text, vec in zip(TEXTS, vectors):
        print(f"  {text!r}: {(await classifier.classify([vec], DEFAULT_CATEGORIES))[0]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adds", type=int, default=500)
    asyncio.run(main(parser.parse_args().adds))
