"""`neurank rec` end to end on a small generated NCF dataset and a MovieLens-style log."""

import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def ncf_folder(tmp_path_factory, interactions):
    folder = tmp_path_factory.mktemp("ncf")
    rng = np.random.default_rng(1)
    train, test, negatives = [], [], []
    for u in range(interactions.num_users):
        items = interactions.items[interactions.users == u].tolist()
        train += [f"{u}\t{i}\t1" for i in items[:-1]]
        test.append(f"{u}\t{items[-1]}\t1")
        pool = [i for i in range(interactions.num_items) if i not in items]
        negatives.append(f"({u},{items[-1]})\t" + "\t".join(map(str, rng.choice(pool, 20,
                                                                                  replace=False))))
    (folder / "toy.train.rating").write_text("\r\n".join(train) + "\r\n")
    (folder / "toy.test.rating").write_text("\r\n".join(test) + "\r\n")
    (folder / "toy.test.negative").write_text("\r\n".join(negatives) + "\r\n")
    return folder


def test_train_evaluate_recommend(neurank, ncf_folder, tmp_path):
    out = tmp_path / "model"
    neurank("rec", "train", "--data", ncf_folder, "--model", "ease", "--out", out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["family"] == "ease" and manifest["info"]["selection"]["trials"]
    report_path = tmp_path / "r.json"
    neurank("rec", "evaluate", out, "--data", ncf_folder, "--json", report_path)
    report = json.loads(report_path.read_text())
    assert (report["dataset"], report["protocol"], report["model"]) == ("toy", "sampled", "ease")
    assert report["metrics"]["hr@10"] > 0.8 and "ndcg@10" in report["metrics"]
    neurank("rec", "evaluate", out, "--data", ncf_folder, "--protocol", "full",
            "--json", report_path)
    assert "recall@10" in json.loads(report_path.read_text())["metrics"]
    rec = json.loads(neurank("rec", "recommend", out, "--user", "2", "-k", "3", "--json").stdout)
    assert rec["user"] == "2" and len(rec["items"]) == 3 and not rec["cold_start"]
    assert all(int(x["item"]) < 20 for x in rec["items"])  # user 2 is in the first taste group
    cold = json.loads(neurank("rec", "recommend", out, "--user", "nobody", "--json").stdout)
    assert cold["cold_start"] is True and len(cold["items"]) == 10


def test_pessimistic_ties_end_to_end(neurank, ncf_folder, tmp_path):
    from neurank.recommend import load_recommender
    from neurank.recommend.evaluation import evaluate_sampled

    out = tmp_path / "pop"
    neurank("rec", "train", "--data", ncf_folder, "--model", "pop", "--out", out)
    figures = {}
    for ties in ("random", "pessimistic"):
        report = tmp_path / f"{ties}.json"
        neurank("rec", "evaluate", out, "--data", ncf_folder, "--ties", ties, "--json", report)
        written = json.loads(report.read_text())
        assert f"then {ties}" in written["description"]
        figures[ties] = written["metrics"]
    # popularity scores tie with the held-out item's often: pessimistic ranks it below them all
    assert figures["pessimistic"]["ndcg@10"] < figures["random"]["ndcg@10"]
    assert all(figures["pessimistic"][m] <= figures["random"][m] for m in figures["random"])
    from neurank.data.interactions import read_ncf

    direct = evaluate_sampled(load_recommender(out), read_ncf(ncf_folder).test,
                              ties="pessimistic")
    assert figures["pessimistic"] == pytest.approx(direct)


def test_auto_on_a_movielens_log_within_budget(neurank, tmp_path, interactions):
    lines = [f"{interactions.user_ids[u]}\t{interactions.item_ids[i]}\t4\t{t}"
             for t, (u, i) in enumerate(zip(interactions.users, interactions.items, strict=True))]
    (tmp_path / "u.data").write_text("\n".join(lines) + "\n")
    result = neurank("rec", "train", "--data", tmp_path, "--model", "auto", "--budget-s", "1",
                     "--out", tmp_path / "m")
    assert "budget of 1s spent" in result.stderr
    assert "validation leaderboard" in result.stdout and "<- chosen" in result.stdout
    assert "{" not in result.stdout.splitlines()[-1]  # the saved model in words, not a dict
    neurank("rec", "train", "--data", tmp_path, "--model", "pop", "--out", tmp_path / "pop")
    scores = {}
    for name in ("m", "pop"):
        report = tmp_path / f"{name}.json"
        neurank("rec", "evaluate", tmp_path / name, "--data", tmp_path, "--json", report)
        scores[name] = json.loads(report.read_text())["metrics"]["ndcg@10"]
    # 40 items only, so the 99 sampled negatives repeat; auto must still beat popularity
    assert scores["m"] > scores["pop"]


def test_bad_input_and_unknown_ids(neurank, ncf_folder, tmp_path):
    (tmp_path / "bad.csv").write_text("user,item\na,\n")
    result = neurank("rec", "train", "--data", tmp_path / "bad.csv", "--model", "pop",
                     "--out", tmp_path / "x", check=False)
    assert result.returncode == 2 and "bad.csv:2 field 'item'" in result.stderr
    result = neurank("rec", "recommend", tmp_path / "missing", "--user", "1", check=False)
    assert result.returncode == 2 and "not a neurank checkpoint" in result.stderr
