"""User-item interaction logs: readers (NCF, MovieLens, CSV/JSONL), id maps, CSR, splits, negatives."""

from __future__ import annotations

import ast
import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from neurank.data.corpus import open_text
from neurank.errors import DataError, NotFoundError


@dataclass
class Interactions:
    """Interactions as index arrays over fixed user and item vocabularies.

    `user_ids[u]` / `item_ids[i]` are the external ids of index u / i. `order` is the position of
    each interaction in time (the timestamp when known, else the line order of the source).
    """

    user_ids: list[str]
    item_ids: list[str]
    users: np.ndarray
    items: np.ndarray
    weights: np.ndarray
    order: np.ndarray

    def __post_init__(self) -> None:
        self.user_index = {u: i for i, u in enumerate(self.user_ids)}
        self.item_index = {t: i for i, t in enumerate(self.item_ids)}

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.users)

    def matrix(self) -> sp.csr_matrix:
        """Binary user x item CSR matrix (duplicates collapse to 1)."""
        data = np.ones(len(self.users), dtype=np.float32)
        m = sp.csr_matrix((data, (self.users, self.items)), shape=(self.num_users, self.num_items))
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    def item_counts(self) -> np.ndarray:
        """Distinct users per item (popularity)."""
        return np.asarray(self.matrix().sum(axis=0)).ravel().astype(np.float64)

    def subset(self, mask: np.ndarray) -> Interactions:
        """The interactions where `mask` is true, on the same vocabularies."""
        return Interactions(self.user_ids, self.item_ids, self.users[mask], self.items[mask],
                            self.weights[mask], self.order[mask])

    def of_users(self, kept: np.ndarray) -> Interactions:
        """The interactions of the users where `kept` (one flag per user) is true, with the
        user vocabulary narrowed to them; the items stay as they are."""
        new_index = np.cumsum(kept) - 1
        rows = kept[self.users]
        return Interactions([u for u, k in zip(self.user_ids, kept, strict=True) if k],
                            self.item_ids, new_index[self.users[rows]], self.items[rows],
                            self.weights[rows], self.order[rows])

    def user_index_of(self, user: str) -> int:
        try:
            return self.user_index[user]
        except KeyError:
            raise NotFoundError(f"unknown user {user!r}") from None

    def item_index_of(self, item: str) -> int:
        try:
            return self.item_index[item]
        except KeyError:
            raise NotFoundError(f"unknown item {item!r}") from None


@dataclass
class HeldOut:
    """One held-out item per row, with the negatives to rank it against (sampled protocol)."""

    users: np.ndarray
    items: np.ndarray
    negatives: np.ndarray | None = None
    """(rows, n) item indices, or None for the full-ranking protocol only"""


@dataclass
class InteractionSplit:
    """Train interactions plus a held-out test set (and where it came from)."""

    name: str
    train: Interactions
    test: HeldOut
    description: str


def _from_pairs(users: list[str], items: list[str], weights: list[float], order: np.ndarray,
                user_ids: list[str] | None = None,
                item_ids: list[str] | None = None) -> Interactions:
    user_ids = user_ids or sorted(set(users), key=_natural)
    item_ids = item_ids or sorted(set(items), key=_natural)
    ui = {u: i for i, u in enumerate(user_ids)}
    ii = {t: i for i, t in enumerate(item_ids)}
    return Interactions(user_ids, item_ids,
                        np.fromiter((ui[u] for u in users), dtype=np.int64, count=len(users)),
                        np.fromiter((ii[t] for t in items), dtype=np.int64, count=len(items)),
                        np.asarray(weights, dtype=np.float32), np.asarray(order, dtype=np.float64))


def _natural(value: str) -> tuple[int, int | str]:
    """Numeric ids in numeric order, then the rest alphabetically."""
    return (0, int(value)) if value.isdigit() else (1, value)


def _float(value: str, *, path: Path, line: int, field: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise DataError(f"not a number: {value!r}", path=path, line=line, field=field) from None
    if not np.isfinite(number):
        raise DataError(f"not a finite number: {value!r}", path=path, line=line, field=field)
    return number


# ---------------------------------------------------------------------------- NCF files
def _ncf_rows(path: Path) -> list[tuple[int, list[str]]]:
    """(line, cells) of an NCF .rating/.negative file: tabs (DeepCF) or CSV with a header."""
    with open_text(path) as handle:
        lines = handle.read().splitlines()  # tolerates CRLF
    if lines and "," in lines[0] and "\t" not in lines[0]:
        rows = list(csv.reader(lines))
        return [(n, row) for n, row in enumerate(rows[1:], start=2) if row]
    return [(n, line.split("\t")) for n, line in enumerate(lines, start=1) if line.strip()]


def _ncf_prefix(path: Path) -> Path:
    if path.is_dir():
        found = sorted(path.glob("*.train.rating"))
        if len(found) != 1:
            raise DataError(f"expected one *.train.rating file, found {len(found)}", path=path)
        return Path(str(found[0])[: -len(".train.rating")])
    return Path(str(path).removesuffix(".train.rating"))


def _int_cell(cell: str, *, path: Path, line: int, field: str) -> int:
    try:
        value = int(cell.strip())
    except ValueError:
        raise DataError(f"expected an integer id, got {cell!r:.40}", path=path, line=line,
                        field=field) from None
    if value < 0:
        raise DataError(f"ids are 0-based indices, got {value}", path=path, line=line,
                        field=field)
    return value


def _dense_count(ids: np.ndarray, what: str, path: Path) -> int:
    """max id + 1, refused when the ids are far sparser than NCF's dense 0-based indices (an
    id of 1e9 would allocate gigabytes of empty rows)."""
    count = int(ids.max(initial=-1)) + 1
    distinct = len(np.unique(ids))
    if count > 2 * distinct + 1000:
        raise DataError(f"{what} ids go up to {count - 1:,} for {distinct:,} distinct {what}s: "
                        "NCF files need dense 0-based indices (read the data as a log, "
                        "--format csv, which maps any ids)", path=path)
    return count


def read_ncf(path: str | Path) -> InteractionSplit:
    """NCF leave-one-out files: `<prefix>.train.rating`, `.test.rating`, `.test.negative`.

    Ids are the files' 0-based integers; the item vocabulary covers every id seen in any of the
    three files (some test items never occur in train).
    """
    prefix = _ncf_prefix(Path(path))
    files = {part: Path(f"{prefix}.{part}") for part in ("train.rating", "test.rating",
                                                         "test.negative")}
    for file in files.values():
        if not file.exists():
            raise DataError("missing NCF file", path=file)

    def ratings(file: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        users, items, values = [], [], []
        for line, cells in _ncf_rows(file):
            if len(cells) < 2:
                raise DataError("expected user, item[, rating[, timestamp]]", path=file, line=line)
            users.append(_int_cell(cells[0], path=file, line=line, field="user"))
            items.append(_int_cell(cells[1], path=file, line=line, field="item"))
            values.append(_float(cells[2], path=file, line=line, field="rating")
                          if len(cells) > 2 and cells[2].strip() else 1.0)
        return np.asarray(users), np.asarray(items), np.asarray(values)

    tr_u, tr_i, tr_r = ratings(files["train.rating"])
    te_u, te_i, _ = ratings(files["test.rating"])
    negative_rows = []
    for line, cells in _ncf_rows(files["test.negative"]):
        if cells[0].startswith("("):
            negatives = cells[1:]  # DeepCF: "(user,item)\tneg\tneg..."
        else:
            try:
                listed = ast.literal_eval(cells[1])  # "user,\"[neg, ...]\""
            except (ValueError, SyntaxError, IndexError, MemoryError, RecursionError):
                listed = None
            if not isinstance(listed, list | tuple):
                raise DataError("cannot read the negatives list (expected [id, id, ...])",
                                path=files["test.negative"], line=line)
            negatives = [str(x) for x in listed]
        negative_rows.append([_int_cell(c, path=files["test.negative"], line=line,
                                        field="negative") for c in negatives if c.strip()])
    if len(negative_rows) != len(te_u):
        raise DataError(f"{len(negative_rows)} negative rows for {len(te_u)} test rows",
                        path=files["test.negative"])
    width = min(len(r) for r in negative_rows) if negative_rows else 0
    negatives = np.asarray([r[:width] for r in negative_rows], dtype=np.int64)
    num_users = _dense_count(np.concatenate([tr_u, te_u]), "user", prefix)
    num_items = _dense_count(np.concatenate([tr_i, te_i, negatives.ravel()]), "item", prefix)
    train = Interactions([str(u) for u in range(num_users)], [str(i) for i in range(num_items)],
                         tr_u.astype(np.int64), tr_i.astype(np.int64), tr_r.astype(np.float32),
                         np.arange(len(tr_u), dtype=np.float64))
    return InteractionSplit(
        name=prefix.name, train=train,
        test=HeldOut(te_u.astype(np.int64), te_i.astype(np.int64), negatives),
        description=f"given NCF files ({prefix.name}.*), {width} given negatives per test row")


# ---------------------------------------------------------------------------- logs
def read_interaction_log(
    path: str | Path,
    *,
    user_field: str = "user",
    item_field: str = "item",
    rating_field: str | None = "rating",
    time_field: str | None = "timestamp",
) -> Interactions:
    """MovieLens (`u.data`, `ratings.dat`, `ratings.csv`) or a generic CSV/TSV/JSONL log."""
    path = Path(path)
    if not path.exists():
        raise DataError("no such file", path=path)
    name = path.name.lower()
    records: list[tuple[int, str, str, str | None, str | None]] = []
    if name == "u.data" or name.endswith(".data"):
        for n, line in enumerate(path.read_text(encoding="latin-1").splitlines(), start=1):
            cells = line.split("\t")
            if len(cells) != 4:
                raise DataError("expected user\\titem\\trating\\ttimestamp", path=path, line=n)
            records.append((n, cells[0], cells[1], cells[2], cells[3]))
    elif name.endswith(".dat"):
        for n, line in enumerate(path.read_text(encoding="latin-1").splitlines(), start=1):
            cells = line.split("::")
            if len(cells) != 4:
                raise DataError("expected user::item::rating::timestamp", path=path, line=n)
            records.append((n, cells[0], cells[1], cells[2], cells[3]))
    elif name.endswith((".jsonl", ".json")):
        from neurank.data.corpus import iter_jsonl

        for n, record in iter_jsonl(path):
            def get(key: str | None, rec=record) -> str | None:
                return None if key is None or rec.get(key) is None else str(rec[key])
            records.append((n, get(user_field) or "", get(item_field) or "", get(rating_field),
                            get(time_field)))
    else:
        delimiter = "\t" if name.endswith((".tsv", ".tab")) else ","
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter=delimiter)
            header = reader.fieldnames or []
            aliases = {"user": ("userId", "user_id", "user"), "item": ("movieId", "itemId",
                                                                       "item_id", "item")}
            user_col = user_field if user_field in header else next(
                (a for a in aliases["user"] if a in header), user_field)
            item_col = item_field if item_field in header else next(
                (a for a in aliases["item"] if a in header), item_field)
            for column in (user_col, item_col):
                if column not in header:
                    raise DataError(f"header has no column {column!r} (columns: {header})",
                                    path=path, line=1, field=column)
            rating_col = rating_field if rating_field in header else None
            time_col = time_field if time_field in header else None
            for row in reader:
                records.append((reader.line_num, row[user_col] or "", row[item_col] or "",
                                row[rating_col] if rating_col else None,
                                row[time_col] if time_col else None))
    if not records:
        raise DataError("no interactions", path=path)
    users, items, weights, order = [], [], [], []
    for n, user, item, rating, timestamp in records:
        if not user.strip():
            raise DataError("empty user id", path=path, line=n, field=user_field)
        if not item.strip():
            raise DataError("empty item id", path=path, line=n, field=item_field)
        users.append(user.strip())
        items.append(item.strip())
        weights.append(_float(rating, path=path, line=n, field="rating") if rating else 1.0)
        order.append(_float(timestamp, path=path, line=n, field="timestamp") if timestamp
                     else float(n))
    return _from_pairs(users, items, weights, np.asarray(order))


# ---------------------------------------------------------------------------- splits
def last_per_user(data: Interactions) -> np.ndarray:
    """Boolean mask of each user's latest interaction (ties: the later line)."""
    position = np.arange(len(data))
    order = np.lexsort((position, data.order, data.users))
    last = np.ones(len(order), dtype=bool)
    last[:-1] = data.users[order][1:] != data.users[order][:-1]
    mask = np.zeros(len(data), dtype=bool)
    mask[order[last]] = True
    return mask


def leave_one_out(data: Interactions, *, min_interactions: int = 2) -> tuple[Interactions, HeldOut]:
    """Hold out each user's latest interaction (users with fewer than `min_interactions` stay
    wholly in train)."""
    counts = np.bincount(data.users, minlength=data.num_users)
    held = last_per_user(data) & (counts[data.users] >= min_interactions)
    return data.subset(~held), HeldOut(data.users[held], data.items[held])


def random_split(data: Interactions, *, test_ratio: float = 0.2,
                 seed: int = 0) -> tuple[Interactions, Interactions]:
    """Per user, a random `test_ratio` of interactions goes to test (at least one stays in train)."""
    if not 0.0 < test_ratio < 1.0:
        raise ValueError("test_ratio must be in (0, 1)")
    rng = np.random.default_rng(seed)
    keys = rng.random(len(data))
    order = np.lexsort((keys, data.users))
    users_sorted = data.users[order]
    starts = np.flatnonzero(np.r_[True, users_sorted[1:] != users_sorted[:-1]])
    counts = np.diff(np.r_[starts, len(order)])
    rank = np.arange(len(order)) - np.repeat(starts, counts)
    n_test = np.floor(counts * test_ratio).astype(int)
    n_test = np.minimum(n_test, counts - 1)
    is_test = np.zeros(len(data), dtype=bool)
    is_test[order] = rank < np.repeat(n_test, counts)
    return data.subset(~is_test), data.subset(is_test)


def sample_negatives(
    seen: sp.csr_matrix, users: np.ndarray, n: int, rng: np.random.Generator,
    *, exclude: np.ndarray | None = None, candidates: np.ndarray | None = None,
) -> np.ndarray:
    """(len(users), n) items each user has not interacted with in `seen` (and != `exclude`).

    Vectorised rejection sampling: draw all, re-draw only the collisions, a few rounds.
    Draws from `candidates` (an item-index array) when given, else from all items.
    """
    users = np.asarray(users, dtype=np.int64)
    pool = np.arange(seen.shape[1]) if candidates is None else np.asarray(candidates)
    seen = seen.tocsr()
    seen.sort_indices()
    keys = _pair_keys(seen)
    out = pool[rng.integers(0, len(pool), size=(len(users), n))]
    rows = np.repeat(users, n).reshape(len(users), n)
    for _ in range(100):
        bad = np.isin(rows * seen.shape[1] + out, keys)
        if exclude is not None:
            bad |= out == np.asarray(exclude)[:, None]
        if not bad.any():
            return out
        out[bad] = pool[rng.integers(0, len(pool), size=int(bad.sum()))]
    raise DataError("cannot sample negatives: some users have interacted with almost every item")


def _pair_keys(matrix: sp.csr_matrix) -> np.ndarray:
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    return rows * matrix.shape[1] + matrix.indices.astype(np.int64)


def validation_split(train: Interactions, *, negatives: int = 99,
                     seed: int = 0) -> tuple[Interactions, HeldOut]:
    """Carve each user's latest training interaction out as validation, with sampled negatives.

    Hyperparameters are chosen on this, never on the test file.
    """
    fit, held = leave_one_out(train)
    rng = np.random.default_rng(seed)
    held.negatives = sample_negatives(train.matrix(), held.users, negatives, rng,
                                      exclude=held.items)
    return fit, held


def with_sampled_negatives(data: Interactions, held: HeldOut, *, negatives: int = 99,
                           seed: int = 0) -> HeldOut:
    """Attach `negatives` seeded random items per held-out row (none the user has seen)."""
    seen = data.matrix() + sp.csr_matrix(
        (np.ones(len(held.users), dtype=np.float32), (held.users, held.items)), shape=(
            data.num_users, data.num_items))
    rng = np.random.default_rng(seed)
    return HeldOut(held.users, held.items, sample_negatives(seen, held.users, negatives, rng))


@dataclass
class LogColumns:
    """Which columns of a CSV/TSV/JSONL log hold the user, item, rating and time."""

    user_field: str = "user"
    item_field: str = "item"
    rating_field: str | None = "rating"
    time_field: str | None = "timestamp"


def is_ncf(path: Path) -> bool:
    return (path.is_dir() and any(path.glob("*.train.rating"))) or str(path).endswith(
        ".train.rating") or Path(f"{path}.train.rating").exists()


def log_file(path: str | Path) -> Path:
    """The log file itself: `path`, or the MovieLens ratings file inside a folder."""
    path = Path(path)
    if not path.exists():
        raise DataError("no such file or folder", path=path)
    if not path.is_dir():
        return path
    for name in ("u.data", "ratings.dat", "ratings.csv"):
        if (path / name).exists():
            return path / name
    hint = (" it holds NCF files: use --format ncf (or auto)" if is_ncf(path) else
            " give the log file itself")
    raise DataError(f"a log format needs u.data, ratings.dat or ratings.csv here;{hint}",
                    path=path)


def read_log(path: str | Path, columns: LogColumns | None = None) -> Interactions:
    """A log file or MovieLens folder, with its column names."""
    c = columns or LogColumns()
    return read_interaction_log(log_file(path), user_field=c.user_field,
                                item_field=c.item_field, rating_field=c.rating_field,
                                time_field=c.time_field)


def read_interactions(path: str | Path, fmt: str = "auto", *, seed: int = 0,
                      columns: LogColumns | None = None,
                      min_rating: float | None = None) -> InteractionSplit:
    """Data + test split for `neurank rec`: NCF files as given, logs split leave-one-out by time
    with 99 seeded sampled negatives (after keeping ratings >= `min_rating`)."""
    path = Path(path)
    if not path.exists() and not Path(f"{path}.train.rating").exists():
        raise DataError("no such file or folder", path=path)
    if fmt == "auto":
        fmt = "ncf" if is_ncf(path) else "log"
    if fmt == "ncf":
        return read_ncf(path)
    file = log_file(path)
    data = read_log(file, columns)
    if min_rating is not None:
        data = data.subset(data.weights >= min_rating)
        if len(data) == 0:
            raise DataError(f"no interaction has a rating >= {min_rating:g}", path=file)
    train, held = leave_one_out(data)
    test = with_sampled_negatives(data, held, seed=seed)
    kept = "" if min_rating is None else f" (ratings >= {min_rating:g})"
    return InteractionSplit(name=file.parent.name if file.name in ("u.data", "ratings.dat",
                                                                    "ratings.csv") else file.stem,
                            train=train, test=test,
                            description=f"leave-one-out by timestamp of {file.name}{kept}, 99 "
                                        f"sampled negatives (seed {seed})")
