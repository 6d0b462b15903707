"""How the vector index's build settings trade build time against recall, on real vectors.

    python bench/hnsw_build.py --data-dir DIR [--configs 200:1,200:2,100:2,64:2]

Reads every embedding from the service's SQL database in DIR (seed one with
`python bench/core_bench.py --phase seed --data-dir DIR --n 100000`), builds an hnswlib index
per `ef_construction:threads` pair in 2,000-vector batches (as a rebuild at start does), and
prints the build time and recall@10 (ef 64, the service's search setting) of 200 perturbed
stored vectors against exact search. Prints figures; asserts nothing."""
from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.process import pin_threads  # noqa: E402

pin_threads()  # the service's thread pins, before numpy loads

import hnswlib  # noqa: E402
import numpy as np  # noqa: E402

from history.engine import create_engine  # noqa: E402
from history.repository import SqlMemoryRepository  # noqa: E402


async def embeddings(url: str) -> np.ndarray:
    repo = SqlMemoryRepository(create_engine(url))
    rows: list[np.ndarray] = []
    after = None
    try:
        while page := await repo.embeddings_since(0, after=after, limit=5000):
            rows.extend(np.asarray(v, dtype=np.float32) for _, v in page)
            after = page[-1][0]
    finally:
        await repo.close()
    return np.stack(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--configs", default="200:1,200:2,100:2,64:2")
    args = parser.parse_args()
    x = asyncio.run(embeddings(f"sqlite:///{args.data_dir / 'agentmem.db'}"))
    rng = np.random.default_rng(1)
    queries = x[rng.choice(len(x), 200, replace=False)] + rng.normal(0, 0.05, (200, x.shape[1])).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    truth = np.argsort(-(queries @ x.T), axis=1)[:, :10]
    print(f"{len(x):,} vectors of dimension {x.shape[1]}")
    for config in args.configs.split(","):
        ef_construction, threads = (int(v) for v in config.split(":"))
        index = hnswlib.Index("cosine", x.shape[1])
        index.init_index(len(x), M=16, ef_construction=ef_construction)
        started = time.perf_counter()
        for s in range(0, len(x), 2000):
            index.add_items(x[s : s + 2000], np.arange(s, min(len(x), s + 2000)), num_threads=threads)
        built = time.perf_counter() - started
        index.set_ef(64)
        labels, _ = index.knn_query(queries, k=10, num_threads=1)
        recall = np.mean([len(set(labels[i]) & set(truth[i])) / 10 for i in range(len(queries))])
        print(f"ef_construction {ef_construction:4d}, {threads} thread(s): built in {built:6.1f} s, recall@10 {recall:.3f}")


if __name__ == "__main__":
    main()
