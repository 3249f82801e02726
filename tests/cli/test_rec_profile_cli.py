"""The profile recommender through the command line, on a small MovieLens-format folder."""

import json

import numpy as np
import pytest

GENRES = ["unknown", "Action", "Comedy", "Drama", "Romance"]


@pytest.fixture(scope="module")
def movielens_dir(tmp_path_factory):
    """80 users; women like items 1-15, men items 16-30, everyone rates items 31-40 low."""
    folder = tmp_path_factory.mktemp("ml")
    rng = np.random.default_rng(0)
    users, ratings = [], []
    for u in range(1, 81):
        gender = "F" if u % 2 else "M"
        users.append(f"{u}|{20 + u % 40}|{gender}|{['engineer', 'artist'][u % 3 == 0]}|0{u:04d}")
        home = np.arange(1, 16) if gender == "F" else np.arange(16, 31)
        for t, item in enumerate(rng.choice(home, size=6, replace=False)):
            ratings.append(f"{u}\t{item}\t5\t{880000000 + u * 100 + t}")
        for t, item in enumerate(rng.choice(np.arange(31, 41), size=2, replace=False)):
            ratings.append(f"{u}\t{item}\t2\t{880000050 + u * 100 + t}")
    items = []
    for i in range(1, 41):
        flags = ["0"] * len(GENRES)
        flags[1 + i % 4] = "1"
        items.append(f"{i}|Movie number {i} (1995)|01-Jan-1995||http://x|" + "|".join(flags))
    (folder / "u.data").write_text("\n".join(ratings) + "\n")
    (folder / "u.user").write_text("\n".join(users) + "\n")
    (folder / "u.item").write_text("\n".join(items) + "\n")
    (folder / "u.genre").write_text("".join(f"{g}|{n}\n" for n, g in enumerate(GENRES)))
    return folder


@pytest.mark.parametrize("model", ["profile", "pop-segment"])
def test_cold_users_train_evaluate_recommend(neurank, movielens_dir, tmp_path, model):
    out = tmp_path / model
    neurank("rec", "train", "--data", movielens_dir, "--format", "movielens", "--model", model,
            "--holdout-users", "0.2", "--seed", "1", "--out", out)
    neurank("rec", "evaluate", out, "--data", movielens_dir, "--format", "movielens",
            "--protocol", "cold-users", "--json", tmp_path / "report.json")
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["protocol"] == "cold-users" and "ratings >= 4" in report["description"]
    assert set(report["metrics"]) == {"hr@10", "ndcg@10", "recall@10"}
    # a ranker that knows the groups finds 6 of 15 in-group items: NDCG@10 ~0.45; popularity ~0.2
    assert report["num_test"] == 16 and report["metrics"]["ndcg@10"] > 0.38, report
    answer = json.loads(neurank(
        "rec", "recommend", out, "--profile",
        '{"age": 34, "gender": "F", "occupation": "engineer"}', "-k", "3",
        "--filter", 'genres=["Comedy"]', "--json").stdout)
    assert answer["source"] == "profile" and answer["cold_start"] is True
    assert all("Comedy" in item["genres"] and int(item["item"]) <= 15
               for item in answer["items"]), answer
    assert answer["items"][0]["title"].startswith("Movie number")
    table = neurank("rec", "recommend", out, "--profile", '{"gender": "M"}', "-k", "2").stdout
    assert "Movie number" in table and "from the profile" in table


def test_profile_cli_errors(neurank, movielens_dir, tmp_path):
    out = tmp_path / "seg"
    neurank("rec", "train", "--data", movielens_dir, "--format", "movielens", "--model",
            "pop-segment", "--out", out)
    bad = neurank("rec", "recommend", out, "--profile", "{age: 3}", check=False)
    assert bad.returncode != 0 and "--profile is not valid JSON" in bad.stderr
    no_holdout = neurank("rec", "evaluate", out, "--data", movielens_dir, "--format",
                         "movielens", "--protocol", "cold-users", check=False)
    assert no_holdout.returncode != 0 and "not trained with --holdout-users" in no_holdout.stderr
    csv_log = tmp_path / "log.csv"
    csv_log.write_text("who,what,stars\n1,1,5\n2,2,4\n")
    missing = neurank("rec", "train", "--data", csv_log, "--model", "profile", "--user-field",
                      "who", "--item-field", "what", "--rating-field", "stars", "--out",
                      tmp_path / "x", check=False)
    assert missing.returncode != 0 and "needs user features" in missing.stderr


def test_profile_config_file(neurank, movielens_dir, tmp_path):
    from neurank.recommend import load_recommender

    good = tmp_path / "profile.yaml"
    good.write_text("loss_weights: {score: 1.0}\naugment: null\ntrainer: {epochs: 3, patience: null}\n")
    neurank("rec", "train", "--data", movielens_dir, "--format", "movielens", "--model",
            "profile", "--config", good, "--out", tmp_path / "p")
    model = load_recommender(tmp_path / "p")
    assert model.config.loss_weights == {"score": 1.0} and model.config.augment is None
    assert [h["epoch"] for h in model.history] == [1, 2, 3]
    bad = tmp_path / "bad.yaml"
    bad.write_text("loss_wieghts: {score: 1.0}\n")
    failed = neurank("rec", "train", "--data", movielens_dir, "--format", "movielens",
                     "--model", "profile", "--config", bad, "--out", tmp_path / "q", check=False)
    assert failed.returncode != 0 and "bad.yaml" in failed.stderr and "loss_wieghts" in failed.stderr
