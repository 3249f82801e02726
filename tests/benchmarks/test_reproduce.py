"""`benchmarks/reproduce.py` (make reproduce): the pin checker finds every pinned figure in the
results JSON and fails on a figure that is off or missing; every pin file's map is well formed."""

import importlib.util
import json
import sys

import pytest
import yaml


@pytest.fixture(scope="module")
def reproduce(repo_root):
    spec = importlib.util.spec_from_file_location("reproduce",
                                                  repo_root / "benchmarks" / "reproduce.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["reproduce"] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


def test_locate_rows_prefixes_and_indices(reproduce):
    data = {"rows": [{"system": "neurank hybrid tuned on train (w=0.55)", "m": {"a": 1.0}},
                     {"system": "bm25", "m": {"a": 2.0}}], "pair": [0.4, 0.01]}
    assert reproduce.locate(data, "rows/system=bm25/m/a") == 2.0
    assert reproduce.locate(data, "rows/system^=neurank hybrid tuned/m/a") == 1.0
    assert reproduce.locate(data, "pair/1") == 0.01
    for missing in ("rows/system=bm2/m", "rows/system^=x", "pair/2", "nope"):
        with pytest.raises(KeyError):
            reproduce.locate(data, missing)


def test_checks_flag_figures_off_or_missing(reproduce, tmp_path):
    (tmp_path / "r.json").write_text(json.dumps(
        {"models": {"pop": {"ndcg@10": [0.41, 0.01]}, "knn": {"ndcg@10": [0.50, 0.02]}},
         "rows": [{"model": "ease", "hr@10": 0.9}]}))
    pins = {"tolerance": 0.001,
            "mean": {"pop": {"ndcg@10": 0.4105}, "knn": {"ndcg@10": 0.45}},
            "rows": {"ease": {"hr@10": 0.9, "ndcg@10": 0.6}},
            "reproduce": {"mean": {"path": "r.json:models/{}/0", "tolerance": 0.001},
                          "rows": "r.json:rows/model={}", "gone": "missing.json:x"}}
    pins["gone"] = {"a": 1.0}
    pin_file = tmp_path / "p.yaml"
    pin_file.write_text(yaml.safe_dump(pins))
    verdicts = {c.pin: (c.ok, c.got) for c in reproduce.checks_of(pin_file, root=tmp_path)}
    assert verdicts == {"mean/pop/ndcg@10": (True, 0.41), "mean/knn/ndcg@10": (False, 0.50),
                        "rows/ease/hr@10": (True, 0.9), "rows/ease/ndcg@10": (False, None),
                        "gone/a": (False, None)}


def test_every_pin_file_maps_sections_that_exist(reproduce, repo_root):
    for pin_file in sorted((repo_root / "benchmarks" / "expected").glob("*.yaml")):
        pins = yaml.safe_load(pin_file.read_text())
        commands = reproduce.commands_of(pins)
        assert commands and all(c.startswith("python benchmarks/") for c in commands), \
            pin_file.name
        assert pins.get("reproduce"), f"{pin_file.name} has no reproduce map"
        for section in pins["reproduce"]:
            leaves = list(reproduce.pinned_leaves(reproduce.locate(pins, section)))
            assert leaves, f"{pin_file.name}: {section} pins no figure"
