"""Memory of a serving process: neurank vs txtai on SciFact, same model, same machine.

    python benchmarks/memory.py --dataset ../shared/data/scifact

Builds (once, cached under benchmarks/results/memory/) a neurank collection on the ONNX
path and a txtai hybrid index over the same corpus with the same all-MiniLM-L6-v2 folder;
then, each in a fresh process, loads the index and answers the test queries in dense and
hybrid mode, and reports the process's peak RSS and whether torch was imported. txtai is a
peer, not a dependency: `pip install txtai` into the venv to include it (skipped otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORK = Path(__file__).parent / "results" / "memory"

# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child would report its parent's
PEAK = """
def peak_rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""

NEURANK = PEAK + """
import json, sys
from neurank.data import read_beir
from neurank.index import Collection
from neurank.search import SearchPipeline
queries = list(read_beir(sys.argv[1], "test").queries.values())
pipeline = SearchPipeline(Collection.load(sys.argv[2]))
for mode in ("dense", "hybrid"):
    for query in queries:
        pipeline.search(query, k=10, mode=mode)
print(json.dumps({"system": "neurank (ONNX int8 path)",
                  "peak_rss_mb": peak_rss_mb(),
                  "torch_imported": "torch" in sys.modules}))
"""

TXTAI = PEAK + """
import json, sys
from txtai import Embeddings
from neurank.data import read_beir
queries = list(read_beir(sys.argv[1], "test").queries.values())
embeddings = Embeddings()
embeddings.load(sys.argv[2])
for weights in (None, 0.5):
    for query in queries:
        embeddings.search(query, 10, weights=weights) if weights else embeddings.search(query, 10)
print(json.dumps({"system": "txtai (hybrid index, dense and hybrid queries)",
                  "peak_rss_mb": peak_rss_mb(),
                  "torch_imported": "torch" in sys.modules}))
"""


def build(dataset: Path) -> tuple[Path, Path | None]:
    from neurank.config import CollectionConfig
    from neurank.data import read_beir
    from neurank.encoders import resolve_model
    from neurank.index import Collection

    corpus = read_beir(dataset, "test", load_corpus=True, on_empty="keep").corpus or []
    neurank_dir, txtai_dir = WORK / "neurank", WORK / "txtai"
    if not (neurank_dir / "manifest.json").exists():
        Collection.build(neurank_dir, corpus, CollectionConfig(encoder="onnx"))
    try:
        from txtai import Embeddings
    except ImportError:
        return neurank_dir, None
    if not txtai_dir.exists():
        embeddings = Embeddings(path=resolve_model("all-MiniLM-L6-v2"), content=True,
                                hybrid=True)
        embeddings.index([{"id": d.id, "text": d.content} for d in corpus])
        embeddings.save(str(txtai_dir))
    return neurank_dir, txtai_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    neurank_dir, txtai_dir = build(args.dataset)
    rows = []
    runs = [(NEURANK, neurank_dir)] + ([(TXTAI, txtai_dir)] if txtai_dir else [])
    for script, folder in runs:
        out = subprocess.run([sys.executable, "-c", script, str(args.dataset), str(folder)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("peak RSS of a process that loads the SciFact index and answers "
          "the test queries in dense and hybrid mode (2-core CPU)")
    for row in rows:
        print(f"{row['system']:<50} {row['peak_rss_mb']:>8.0f} MB   torch imported: "
              f"{row['torch_imported']}")
    (WORK / "memory.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
