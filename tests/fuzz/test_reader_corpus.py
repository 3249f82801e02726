"""The readers' fuzz corpus (tests/fuzz/readers, verdicts in expected.json) through the real
`neurank index` command: every input is either indexed (accept) or refused with one error line
and exit code 2 (refuse). Counted like the hardening issue counted them: tracebacks, silent
acceptances of garbage, and refusals of good input must all be 0."""

import json
import os
import subprocess
import sys
from pathlib import Path

CORPUS = Path(__file__).parent / "readers"


def run_index(path: Path, out: Path, model: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "neurank.cli", "index", str(path), "--out",
                           str(out), "--model", str(model), "--encoder", "torch"],
                          capture_output=True, text=True, env=env, timeout=300)


def test_reader_fuzz_corpus_has_no_tracebacks_or_silent_acceptances(tmp_path, tiny_model_dir):
    expected = json.loads((CORPUS / "expected.json").read_text())
    assert len(expected) >= 30 and set(expected) == {p.name for p in CORPUS.iterdir()} - {
        "expected.json"}
    tracebacks, silent, refused_good, unclear = [], [], [], []
    for name, verdict in sorted(expected.items()):
        result = run_index(CORPUS / name, tmp_path / name, tiny_model_dir)
        if "Traceback" in result.stderr:
            tracebacks.append(name)
        elif verdict == "refuse" and result.returncode == 0:
            silent.append(name)
        elif verdict == "accept" and result.returncode != 0:
            refused_good.append(f"{name}: {result.stderr.strip()}")
        elif verdict == "refuse" and not (result.returncode == 2
                                          and result.stderr.startswith("error: ")
                                          and str(CORPUS / name) in " ".join(result.stderr.split())):
            unclear.append(f"{name}: {result.returncode} {result.stderr.strip()[:200]}")
    print(f"reader fuzz corpus: {len(expected)} inputs, {len(tracebacks)} tracebacks, "
          f"{len(silent)} silent acceptances, {len(refused_good)} good inputs refused, "
          f"{len(unclear)} unclear errors")
    assert (tracebacks, silent, refused_good, unclear) == ([], [], [], [])
