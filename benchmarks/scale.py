"""Scale benchmark: vector backends at 1M documents, and what one update costs.

    python benchmarks/scale.py --dataset ../shared/data/scifact vectors [--docs 1000000]
    python benchmarks/scale.py --dataset ../shared/data/scifact updates [--sizes 5000,100000,1000000]

Synthetic but realistic data: unit vectors made from SciFact's own all-MiniLM-L6-v2
embeddings plus Gaussian noise (so neighbourhoods are clustered as in real text), and random
short texts from SciFact's vocabulary. `vectors` builds FAISS exact, FAISS HNSW and Milvus
(milvus-lite, embedded) over the same vectors, each in its own process, and reports build
time, peak RSS above the data itself, disk, single-query search p50/p95 at k=10 and
recall@10 against exact search. `updates` builds collections of each size and times a
one-document upsert + commit (p50/p95); run it from another checkout (`--src`) to compare
code versions in the same run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

DIM = 384
RESULTS = Path(__file__).parent / "results" / "scale"
BACKENDS = {"faiss-flat": {}, "faiss-hnsw": {"kind": "hnsw"},
            "milvus-lite-flat": {"backend": "milvus"}}


def base_embeddings(dataset: Path) -> tuple[np.ndarray, list[str]]:
    """SciFact's document embeddings (cached) and its vocabulary."""
    from neurank.data import read_beir

    corpus = read_beir(dataset, "test", load_corpus=True, on_empty="keep").corpus or []
    contents = [d.content for d in corpus]
    words = sorted({w for text in contents for w in re.findall(r"[a-z]{3,}", text.lower())})
    cache = RESULTS / "scifact_embeddings.npy"
    if not cache.exists():
        from neurank.encoders import load_encoder

        RESULTS.mkdir(parents=True, exist_ok=True)
        np.save(cache, load_encoder(backend="onnx").encode(contents, show_progress=True))
    return np.load(cache), words


def synthetic_vectors(base: np.ndarray, n: int, seed: int, noise: float = 0.6) -> np.ndarray:
    """n unit vectors: base embeddings (cycled) plus noise of norm ~`noise`."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(start + 100_000, n)
        picks = base[np.arange(start, stop) % len(base)]
        chunk = picks + rng.normal(scale=noise / np.sqrt(base.shape[1]),
                                   size=picks.shape).astype(np.float32)
        out[start:stop] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def disk_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def percentiles(samples: list[float]) -> tuple[float, float]:
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 95))


# ---------------------------------------------------------------------------- vectors
def one_backend(name: str, dataset: Path, docs: int, queries: int) -> dict:
    """Build, save, reload and search one backend (run in a fresh process)."""
    from neurank.config import VectorIndexConfig
    from neurank.index.vectors import create_vector_index

    base, _ = base_embeddings(dataset)
    vectors = synthetic_vectors(base, docs, seed=0)
    query_vectors = synthetic_vectors(base[::7], queries, seed=1)
    rows = np.arange(docs, dtype=np.int64)
    folder = RESULTS / f"vectors-{name}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    before = peak_rss_mb()
    start = time.perf_counter()
    index = create_vector_index(DIM, VectorIndexConfig(**BACKENDS[name]), folder)
    for chunk in range(0, docs, 100_000):
        index.add(rows[chunk:chunk + 100_000], vectors[chunk:chunk + 100_000])
    index.save(folder, "s1", rows)
    build_s = time.perf_counter() - start
    for q in query_vectors[:10]:
        index.search(q[None, :], 10)
    samples, found = [], []
    for q in query_vectors:
        t = time.perf_counter()
        _, top = index.search(q[None, :], 10)
        samples.append((time.perf_counter() - t) * 1e3)
        found.append(top[0])
    exact = np.concatenate([np.argsort(-(query_vectors[i:i + 100] @ vectors.T), axis=1)[:, :10]
                            for i in range(0, queries, 100)])
    recall = float(np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact,
                                                                       strict=True)]))
    p50, p95 = percentiles(samples)
    return {"backend": name, "docs": docs, "build_s": build_s, "rss_mb": peak_rss_mb() - before,
            "disk_mb": disk_mb(folder), "p50_ms": p50, "p95_ms": p95, "recall@10": recall}


def run_vectors(args: argparse.Namespace) -> None:
    rows = []
    for name in args.backends.split(","):
        result = subprocess.run([sys.executable, __file__, "--dataset", str(args.dataset),
                                 "one-backend", name, "--docs", str(args.docs)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            print(f"{name} failed:\n{result.stderr[-2000:]}")
            continue
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]))
    print(f"\n{args.docs:,} unit vectors (SciFact MiniLM embeddings + noise), dim {DIM}, "
          "2 cores; search = one query at a time, k=10; recall@10 against exact search")
    print(f"{'backend':<18}{'build s':>9}{'RSS MB':>9}{'disk MB':>9}{'p50 ms':>9}{'p95 ms':>9}"
          f"{'recall@10':>11}")
    for r in rows:
        print(f"{r['backend']:<18}{r['build_s']:>9.1f}{r['rss_mb']:>9.0f}{r['disk_mb']:>9.0f}"
              f"{r['p50_ms']:>9.2f}{r['p95_ms']:>9.2f}{r['recall@10']:>11.4f}")
    (RESULTS / "vectors.json").write_text(json.dumps(rows, indent=2))


# ---------------------------------------------------------------------------- updates
class SyntheticEncoder:
    """An Encoder that returns precomputed vectors by text (a hash picks a base vector)."""

    name = "synthetic"
    backend = "torch"
    dim = DIM

    def __init__(self, base: np.ndarray) -> None:
        self.base = base

    def encode(self, texts: list[str], *, batch_size: int | None = None,
               show_progress: bool = False) -> np.ndarray:
        picks = np.asarray([hash(t) % len(self.base) for t in texts], dtype=np.int64)
        return self.base[picks] if len(texts) else np.zeros((0, self.dim), dtype=np.float32)

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        return self.encode(queries)


def run_updates(args: argparse.Namespace) -> None:
    from neurank.config import CollectionConfig
    from neurank.data.corpus import Document
    from neurank.index import Collection

    base, words = base_embeddings(args.dataset)
    rng = np.random.default_rng(0)
    encoder = SyntheticEncoder(synthetic_vectors(base, 50_000, seed=2))
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        folder = RESULTS / f"updates-{args.label}-{size}"
        shutil.rmtree(folder, ignore_errors=True)
        texts = [" ".join(row) for row in rng.choice(np.asarray(words), size=(size, 12))]
        docs = [Document(id=f"d{i}", title="", text=t, metadata={"n": i % 7})
                for i, t in enumerate(texts)]
        start = time.perf_counter()
        collection = Collection.build(folder, docs, CollectionConfig(model="synthetic"),
                                      encoder=encoder, show_progress=False)
        build_s = time.perf_counter() - start
        del docs, texts  # a serving process holds no corpus of Python objects for GC to walk
        gc.collect()
        os.sync()  # the build's gigabytes reach the disk before, not during, the first commit
        samples = []
        for i in range(args.updates):
            doc = Document(id=f"d{i * 7919 % size}", title="", text=f"updated text {i}")
            t = time.perf_counter()
            collection.upsert([doc])
            collection.save()
            samples.append((time.perf_counter() - t) * 1e3)
        p50, p95 = percentiles(samples)
        results.append({"label": args.label, "docs": size, "build_s": build_s,
                        "upsert_p50_ms": p50, "upsert_p95_ms": p95, "updates": len(samples),
                        "disk_mb": disk_mb(folder)})
        print(json.dumps(results[-1]), flush=True)
        shutil.rmtree(folder, ignore_errors=True)
    print(f"\none-document upsert + commit ({args.label}); BM25 + SQLite + FAISS flat, dim {DIM}")
    print(f"{'docs':>10}{'build s':>10}{'p50 ms':>10}{'p95 ms':>10}")
    for r in results:
        print(f"{r['docs']:>10,}{r['build_s']:>10.1f}{r['upsert_p50_ms']:>10.1f}"
              f"{r['upsert_p95_ms']:>10.1f}")
    (RESULTS / f"updates-{args.label}.json").write_text(json.dumps(results, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True, help="SciFact BEIR folder")
    sub = parser.add_subparsers(dest="part", required=True)
    vectors = sub.add_parser("vectors")
    vectors.add_argument("--docs", type=int, default=1_000_000)
    vectors.add_argument("--backends", default=",".join(BACKENDS))
    one = sub.add_parser("one-backend")
    one.add_argument("name", choices=list(BACKENDS))
    one.add_argument("--docs", type=int, default=1_000_000)
    one.add_argument("--queries", type=int, default=300)
    updates = sub.add_parser("updates")
    updates.add_argument("--sizes", default="5000,100000,1000000")
    updates.add_argument("--updates", type=int, default=20)
    updates.add_argument("--label", default="segments")
    args = parser.parse_args()
    if args.part == "vectors":
        run_vectors(args)
    elif args.part == "one-backend":
        print(json.dumps(one_backend(args.name, args.dataset, args.docs, args.queries)))
    else:
        run_updates(args)


if __name__ == "__main__":
    main()
