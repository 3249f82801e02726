import numpy as np
import pytest

from neurank.data.interactions import (
    leave_one_out,
    random_split,
    read_interaction_log,
    read_interactions,
    read_ncf,
    sample_negatives,
    validation_split,
)
from neurank.errors import DataError


def write_ncf(folder, train, test, negatives, crlf=True):
    end = "\r\n" if crlf else "\n"
    (folder / "toy.train.rating").write_text(end.join(train) + end)
    (folder / "toy.test.rating").write_text(end.join(test) + end)
    (folder / "toy.test.negative").write_text(end.join(negatives) + end)


def test_ncf_tab_files_with_crlf(tmp_path):
    write_ncf(tmp_path, ["0\t1\t5", "0\t2\t3", "1\t0\t1"], ["0\t3\t4", "1\t2\t2"],
              ["(0,3)\t4\t0", "(1,2)\t5\t3"])
    split = read_ncf(tmp_path)
    assert split.train.num_users == 2 and split.train.num_items == 6  # item 5 only a negative
    assert split.test.items.tolist() == [3, 2]
    assert split.test.negatives.tolist() == [[4, 0], [5, 3]]
    assert split.train.matrix().toarray()[0].tolist() == [0, 1, 1, 0, 0, 0]


def test_ncf_csv_files_with_header(tmp_path):
    (tmp_path / "m.train.rating").write_text("userId,itemId,rating\n0,1,3.0\n1,0,4.5\n")
    (tmp_path / "m.test.rating").write_text("userId,itemId,rating\n0,2,5.0\n1,1,1.0\n")
    (tmp_path / "m.test.negative").write_text('userId,negative_samples\n0,"[3, 0]"\n1,"[2, 3]"\n')
    split = read_ncf(tmp_path / "m.train.rating")
    assert split.test.negatives.tolist() == [[3, 0], [2, 3]] and split.train.num_items == 4


def test_ncf_errors_name_file_and_line(tmp_path):
    write_ncf(tmp_path, ["0\t1\t5", "0\tx\t3"], ["0\t3"], ["(0,3)\t4"])
    with pytest.raises(DataError, match=r"toy.train.rating:2 field 'item'"):
        read_ncf(tmp_path)
    write_ncf(tmp_path, ["0\t1\t5"], ["0\t3", "1\t1"], ["(0,3)\t4"])
    with pytest.raises(DataError, match="1 negative rows for 2 test rows"):
        read_ncf(tmp_path)


@pytest.mark.parametrize(("train", "negatives", "message"), [
    (["0\t-1\t5"], ["(0,3)\t4"], r"toy.train.rating:1 field 'item': ids are 0-based"),
    (["0\t1000000000\t5"], ["(0,3)\t4"], r"item ids go up to 1,000,000,000 for 3 distinct"),
    (["100000000000\t1\t5"], ["(0,3)\t4"], r"user ids go up to 100,000,000,000"),
])
def test_ncf_ids_must_be_dense_indices(tmp_path, train, negatives, message):
    write_ncf(tmp_path, train, ["0\t3"], negatives)
    with pytest.raises(DataError, match=message):
        read_ncf(tmp_path)


@pytest.mark.parametrize("row", ['0,5', '0,"{1: 2}"', '0,"[1, [2"'])
def test_ncf_negative_rows_must_be_lists(tmp_path, row):
    (tmp_path / "m.train.rating").write_text("userId,itemId,rating\n0,1,3.0\n")
    (tmp_path / "m.test.rating").write_text("userId,itemId,rating\n0,2,5.0\n")
    (tmp_path / "m.test.negative").write_text(f"userId,negative_samples\n{row}\n")
    with pytest.raises(DataError, match=r"m.test.negative:2: cannot read the negatives list"):
        read_ncf(tmp_path / "m.train.rating")


@pytest.mark.parametrize(("name", "lines"), [
    ("u.data", ["1\t10\t5\t100", "1\t11\t3\t50", "2\t10\t4\t10"]),
    ("ratings.dat", ["1::10::5::100", "1::11::3::50", "2::10::4::10"]),
    ("ratings.csv", ["userId,movieId,rating,timestamp", "1,10,5,100", "1,11,3,50", "2,10,4,10"]),
])
def test_movielens_formats(tmp_path, name, lines):
    (tmp_path / name).write_text("\n".join(lines) + "\n")
    data = read_interaction_log(tmp_path / name)
    assert data.user_ids == ["1", "2"] and data.item_ids == ["10", "11"]
    assert data.order.tolist() == [100, 50, 10]
    train, held = leave_one_out(data)
    # user 1's latest interaction (t=100, item 10) is held out; user 2 has only one
    assert held.users.tolist() == [0] and held.items.tolist() == [0]
    assert len(train) == 2


def test_log_errors(tmp_path):
    (tmp_path / "log.csv").write_text("user,item,rating\na,x,5\nb,,4\n")
    with pytest.raises(DataError, match=r"log.csv:3 field 'item': empty item id"):
        read_interaction_log(tmp_path / "log.csv")
    (tmp_path / "log2.csv").write_text("user,item,rating\na,x,nan\n")
    with pytest.raises(DataError, match=r"log2.csv:2 field 'rating'"):
        read_interaction_log(tmp_path / "log2.csv")
    (tmp_path / "log3.csv").write_text("who,what\na,x\n")
    with pytest.raises(DataError, match="no column 'user'"):
        read_interaction_log(tmp_path / "log3.csv")


def test_random_split_keeps_one_in_train(interactions):
    train, test = random_split(interactions, test_ratio=0.25, seed=1)
    assert len(train) + len(test) == len(interactions)
    assert set(train.users.tolist()) == set(interactions.users.tolist())
    counts = np.bincount(test.users, minlength=interactions.num_users)
    assert counts.max() <= 3


def test_negative_sampling_excludes_positives(interactions):
    seen = interactions.matrix()
    users = np.repeat(np.arange(interactions.num_users), 3)
    negatives = sample_negatives(seen, users, 30, np.random.default_rng(0))
    assert negatives.shape == (len(users), 30)
    assert not seen[users[:, None], negatives].toarray().any()
    again = sample_negatives(seen, users, 30, np.random.default_rng(0))
    np.testing.assert_array_equal(negatives, again)


def test_validation_split_is_carved_from_train_only(interactions):
    fit, held = validation_split(interactions, negatives=10)
    assert len(fit) + len(held.users) == len(interactions)
    assert held.negatives.shape == (interactions.num_users, 10)
    assert not (held.negatives == held.items[:, None]).any()
    seen = interactions.matrix()
    assert not seen[held.users[:, None], held.negatives].toarray().any()


def test_read_interactions_splits_logs_with_seeded_negatives(tmp_path):
    rows = [f"{u}\t{i}\t1\t{t}" for t, (u, i) in enumerate(
        (u, i) for u in range(1, 6) for i in range(1, 120) if (u + i) % 3 == 0)]
    (tmp_path / "u.data").write_text("\n".join(rows) + "\n")
    a = read_interactions(tmp_path)
    b = read_interactions(tmp_path / "u.data")
    assert a.test.negatives.shape == (5, 99)
    np.testing.assert_array_equal(a.test.negatives, b.test.negatives)
    assert "leave-one-out by timestamp" in a.description


def test_format_mistakes_name_the_right_format(tmp_path):
    from neurank.data.interactions import read_interactions

    write_ncf(tmp_path, ["0\t1\t5"], ["0\t3"], ["(0,3)\t4"])
    with pytest.raises(DataError, match="it holds NCF files: use --format ncf"):
        read_interactions(tmp_path, "log")
    with pytest.raises(DataError, match="no such file or folder"):
        read_interactions(tmp_path / "typo")
    assert read_interactions(tmp_path / "toy", "auto").name == "toy"  # a prefix is enough


def test_test_negatives_never_hold_any_positive_of_the_user(tmp_path):
    """A log split leave-one-out: each test row's sampled negatives avoid the held-out item
    and every training item of that user (with 12 items and 99 draws, collisions are sure)."""
    from neurank.data.interactions import read_interactions

    rng = np.random.default_rng(1)
    rows = ["user,item,rating,timestamp"]
    for u in range(30):
        for t, item in enumerate(rng.choice(12, size=6, replace=False)):
            rows.append(f"u{u},i{item},1,{t}")
    (tmp_path / "log.csv").write_text("\n".join(rows) + "\n")
    split = read_interactions(tmp_path / "log.csv", seed=0)
    seen = split.train.matrix().toarray() > 0
    users, items, negatives = split.test.users, split.test.items, split.test.negatives
    assert negatives.shape == (30, 99)
    assert not (negatives == items[:, None]).any()
    assert not seen[users[:, None], negatives].any()


def test_of_users_narrows_the_user_vocabulary(interactions):
    kept = np.zeros(interactions.num_users, dtype=bool)
    kept[[0, 3, 7, 8]] = True
    narrowed = interactions.of_users(kept)
    assert narrowed.user_ids == [interactions.user_ids[u] for u in (0, 3, 7, 8)]
    assert narrowed.item_ids == interactions.item_ids
    assert (narrowed.matrix().toarray() == interactions.matrix().toarray()[kept]).all()
    assert sorted(narrowed.order.tolist()) == sorted(interactions.order[kept[interactions.users]]
                                                     .tolist())
