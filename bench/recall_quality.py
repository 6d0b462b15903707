"""Retrieval quality on LoCoMo (recall@1/5/10 per channel and per category) and search latency.

    python bench/recall_quality.py [--data ../shared/data/locomo-dev.json] [--latency-size 100000]

Protocol (../shared/data/README.md): every dialog turn is one memory, added through the core
(MemoryService as app/bootstrap.py builds it: ONNX MiniLM, SQLite in a temp dir, graph off) with
infer=False, text "[<session date>] <speaker>: <text>", metadata {"dia_id": ...}, user id = the
conversation's sample_id. Every question of categories 1-4 is asked with limit 10 in each
search mode in turn (VECTOR, LEXICAL, HYBRID); a question's recall@k is the share of its evidence
ids found in the top k hits. Then, with --latency-size > 0, the same modes' search p50/p95 on a
store seeded to that many memories (bench/core_bench.py's seeding). Asserts nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.process import pin_threads  # noqa: E402

pin_threads()  # the service's thread pins, before numpy loads


from app.bootstrap import service_context  # noqa: E402
from app.settings import Settings  # noqa: E402
from memory.models import Message, Scope  # noqa: E402
from memory.service import MemoryService  # noqa: E402

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
_DIA = re.compile(r"D(\d+):(\d+)")
KS = (1, 5, 10)


def evidence_ids(raw: list[str]) -> set[str]:
    """Evidence strings, tolerating "D8:6; D9:17" and "D30:05" (read as D<int>:<int>)."""
    found: set[str] = set()
    for item in raw:
        for part in re.split(r"[;,\s]+", str(item)):
            m = _DIA.fullmatch(part.strip())
            if m:
                found.add(f"D{int(m.group(1))}:{int(m.group(2))}")
    return found


def turns(conv: dict) -> list[tuple[str, str]]:
    """(text, dia_id) of every turn, in session order."""
    c = conv["conversation"]
    sessions = sorted((int(k.split("_")[1]) for k in c if re.fullmatch(r"session_\d+", k)))
    out = []
    for n in sessions:
        when = c.get(f"session_{n}_date_time", "")
        for turn in c[f"session_{n}"]:
            out.append((f"[{when}] {turn['speaker']}: {turn['text']}", turn["dia_id"]))
    return out


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def modes() -> list[str]:
    try:
        from memory.ranking import SearchMode
    except ImportError:
        return ["VECTOR"]
    return ["VECTOR", "LEXICAL", "HYBRID"]


async def search(svc: MemoryService, query: str, scope: Scope, mode: str, limit: int = 10):
    if mode == "VECTOR" and modes() == ["VECTOR"]:
        return await svc.search(query, scope, limit=limit)
    from memory.ranking import SearchMode

    return await svc.search(query, scope, limit=limit, mode=SearchMode[mode])


async def ingest(svc: MemoryService, data: list[dict]) -> int:
    """Conversations side by side (the embedder batches them), each one's turns in order."""

    async def one(conv: dict) -> int:
        scope = Scope(user_id=conv["sample_id"])
        for text, dia in turns(conv):
            await svc.add([Message("user", text)], scope, metadata={"dia_id": dia}, infer=False)
        return len(turns(conv))

    return sum(await asyncio.gather(*(one(conv) for conv in data)))


async def evaluate(svc: MemoryService, data: list[dict], mode: str) -> tuple[dict, list[float]]:
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0])
    latencies: list[float] = []
    for conv in data:
        scope = Scope(user_id=conv["sample_id"])
        for qa in conv["qa"]:
            cat = CATEGORIES.get(qa.get("category"))
            evidence = evidence_ids(qa.get("evidence", []))
            if cat is None or not evidence:
                continue
            t0 = time.perf_counter()
            result = await search(svc, str(qa["question"]), scope, mode)
            latencies.append((time.perf_counter() - t0) * 1000)
            got = [h.record.metadata.get("dia_id") for h in result.hits]
            for key in ("overall", cat):
                row = sums[key]
                for i, k in enumerate(KS):
                    row[i] += len(evidence & set(got[:k])) / len(evidence)
                row[3] += 1
    return {k: [v[i] / v[3] for i in range(3)] + [v[3]] for k, v in sums.items()}, latencies


async def quality(data_path: Path, fusion_variants: list[dict[str, object]]) -> None:
    data = json.loads(data_path.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), graph={"enabled": False})
        async with service_context(settings) as svc:
            t0 = time.perf_counter()
            n = await ingest(svc, data)
            print(f"ingested {n} turns in {time.perf_counter() - t0:.1f} s")
            print(f"\n{'mode':8} {'category':12} {'n':>4} {'R@1':>6} {'R@5':>6} {'R@10':>6}")
            for mode in modes():
                await report(svc, data, mode, mode)
            default = svc.searcher.weights
            for variant in fusion_variants:
                svc.searcher.weights = replace(default, **variant)
                await report(svc, data, "HYBRID", "HYBRID " + ",".join(f"{k}={getattr(v, 'name', v)}" for k, v in variant.items()))
            svc.searcher.weights = default


async def report(svc: MemoryService, data: list[dict], mode: str, label: str) -> None:
    table, lat = await evaluate(svc, data, mode)
    print(label)
    for key in ["overall", *CATEGORIES.values()]:
        r1, r5, r10, count = table[key]
        print(f"{mode:8} {key:12} {count:4d} {r1:6.3f} {r5:6.3f} {r10:6.3f}")
    print(f"{label:8} search p50 / p95 {statistics.median(lat):7.2f} / {pct(lat, 95):.2f} ms\n")


async def latency(size: int, queries: int) -> None:
    from bench.core_bench import seed
    from bench.raw_limits import sentences

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), graph={"enabled": False})
        async with service_context(settings):
            pass  # migrations
        await seed(settings, size, 0)
        async with service_context(settings) as svc:
            qs = [t.split(" (")[0] for t in sentences(queries)]
            for mode in modes():
                for q in qs[:20]:
                    await search(svc, q, Scope("user7"), mode)
                lat = []
                for i, q in enumerate(qs):
                    t0 = time.perf_counter()
                    await search(svc, q, Scope(f"user{i % 50}"), mode)
                    lat.append((time.perf_counter() - t0) * 1000)
                print(f"{size:,} memories {mode:8} search p50 / p95 {statistics.median(lat):7.2f} / {pct(lat, 95):.2f} ms")


def fusion_value(text: str) -> object:
    from memory.ranking import FusionMethod

    try:
        return float(text)
    except ValueError:
        return FusionMethod[text.upper()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "locomo-dev.json")
    parser.add_argument("--latency-size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--fusion", action="append", default=[], metavar="vector=1,lexical=1.5",
                        help="also run HYBRID with these fusion weights (memory.ranking.FusionWeights fields)")
    args = parser.parse_args()
    variants = [{k: fusion_value(v) for k, v in (kv.split("=") for kv in spec.split(","))} for spec in args.fusion]
    asyncio.run(quality(args.data, variants))
    if args.latency_size > 0:
        asyncio.run(latency(args.latency_size, args.queries))


if __name__ == "__main__":
    main()
