import bm25s
import numpy as np
import pytest
import Stemmer

from neurank.config import AnalyzerConfig
from neurank.index.bm25 import BM25Index, saturation

QUERIES = ["daily weather temperature", "patients hospital", "stock prices exchange",
           "images of handwritten digits", "unknownword", "the of and"]


def reference_scores(texts, queries, k1=1.2, b=0.75):
    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False),
                    show_progress=False)
    tokens = bm25s.tokenize(queries, stopwords="en", stemmer=stemmer, return_ids=False,
                            show_progress=False)
    # bm25s raises on a query with no terms left; BM25 of such a query is 0 everywhere
    return [retriever.get_scores(t) if t else np.zeros(len(texts)) for t in tokens]


def test_scores_equal_bm25s(sample_documents):
    texts = [d.content for d in sample_documents]
    index = BM25Index()
    index.add(np.arange(len(texts)), texts)
    for query, expected in zip(QUERIES, reference_scores(texts, QUERIES), strict=True):
        np.testing.assert_allclose(index.scores(query), expected, atol=1e-5)


@pytest.mark.parametrize(("k1", "b"), [(0.9, 0.4), (1.5, 1.0)])
def test_parameters_follow_bm25s(sample_documents, k1, b):
    texts = [d.content for d in sample_documents]
    index = BM25Index(AnalyzerConfig(k1=k1, b=b))
    index.add(np.arange(len(texts)), texts)
    expected = reference_scores(texts, QUERIES[:2], k1=k1, b=b)
    for query, ref in zip(QUERIES[:2], expected, strict=True):
        np.testing.assert_allclose(index.scores(query), ref, atol=1e-5)


def test_updates_equal_a_fresh_build(sample_documents):
    texts = [d.content for d in sample_documents]
    updated = BM25Index()
    updated.add(np.arange(30), texts[:30])
    updated.delete(np.array([3, 7]))
    updated.add(np.arange(30, 40), texts[30:])
    updated.delete(np.array([35]))
    updated.add(np.array([40]), ["brand new document about weather stations"])
    keep = [i for i in range(40) if i not in (3, 7, 35)]
    fresh = BM25Index()
    fresh_texts = [texts[i] for i in keep] + ["brand new document about weather stations"]
    fresh.add(np.arange(len(fresh_texts)), fresh_texts)
    slots = [*keep, 40]
    for query in QUERIES:
        np.testing.assert_allclose(updated.scores(query)[slots], fresh.scores(query), atol=1e-6)
        assert not updated.scores(query)[[3, 7, 35]].any()
    assert updated.num_docs == fresh.num_docs == 38


def test_segments_round_trip(tmp_path, sample_documents):
    texts = [d.content for d in sample_documents]
    index = BM25Index(AnalyzerConfig(stemmer=None))
    index.add(np.arange(len(texts)) * 2, texts)  # gaps in the slots, as after merges
    index.save_rows(tmp_path / "a.npz", np.arange(0, 40, 2))
    index.save_rows(tmp_path / "b.npz", np.arange(40, 80, 2))
    loaded = BM25Index.load_segments([tmp_path / "b.npz", tmp_path / "a.npz"],
                                     AnalyzerConfig(stemmer=None))
    assert loaded.num_docs == index.num_docs == len(texts)
    for query in QUERIES:
        np.testing.assert_allclose(loaded.scores(query), index.scores(query), atol=1e-6)


def test_add_into_occupied_slot_is_refused():
    index = BM25Index()
    index.add(np.array([0]), ["hello world"])
    with pytest.raises(ValueError, match="occupied"):
        index.add(np.array([0]), ["again"])


def test_many_small_updates_and_compaction_equal_bm25s(sample_documents):
    texts = [d.content for d in sample_documents]
    index = BM25Index()
    for slot, text in enumerate(texts[:30]):  # one block per add, merged as they accumulate
        index.add(np.array([slot]), [text])
    assert len(index._blocks) <= 5
    index.delete(np.arange(0, 30, 2))  # half of them: compacts into one block of live slots
    assert len(index._blocks) == 1 and index._dead_entries == 0
    index.add(np.arange(30, 40), texts[30:])
    kept = [texts[i] for i in range(1, 30, 2)] + texts[30:]
    slots = [*range(1, 30, 2), *range(30, 40)]
    for query, expected in zip(QUERIES, reference_scores(kept, QUERIES), strict=True):
        np.testing.assert_allclose(index.scores(query)[slots], expected, atol=1e-5)
    assert index.num_docs == len(kept) and not index.scores("weather")[0::2][:15].any()


def test_highlight_spans_are_whole_words_as_the_analyzer_matches_them():
    from neurank.index.analyzer import Analyzer

    analyzer = Analyzer()
    text = "These results were shown to runners running in the showroom"
    spans = analyzer.spans(text, set(analyzer("how these runs run")))
    # 'running' stems to the query's 'run'; 'these' is a stopword; 'how' is not inside 'shown'
    assert [text[a:b] for a, b in spans] == ["running"]
    start = text.index("showroom")
    assert analyzer.spans(text, set(analyzer("Showroom"))) == [(start, start + 8)]
    assert analyzer.spans(text, set()) == []


def test_term_counts_follow_the_requested_slots_across_blocks():
    """Rows come back in the order asked for, repeats included, whichever block holds them."""
    from collections import Counter

    texts = ["alpha beta gamma delta", "beta gamma gamma epsilon", "delta zeta eta theta",
             "alpha alpha iota", "kappa"]
    index = BM25Index()
    index.add(np.array([0, 1, 2]), texts[:3])
    index.add(np.array([3]), texts[3:4])
    index.add(np.array([4]), texts[4:])
    assert len(index._blocks) == 3  # smaller blocks after larger ones are not merged
    slots = np.array([4, 0, 3, 1, 2, 4, 3])
    counts = index.term_counts(slots).toarray()
    for row, slot in enumerate(slots):
        expected = Counter(index.analyzer(texts[slot]))
        got = {term: counts[row, tid] for term, tid in index.vocab.items() if counts[row, tid]}
        assert got == expected, slot
    with pytest.raises(KeyError, match="slot 9"):
        index.term_counts(np.array([0, 9]))


def test_term_scores_sum_to_the_query_score(sample_documents):
    """The per-term contributions the ranker's feedback features use add up to `scores`."""
    texts = [d.content for d in sample_documents]
    index = BM25Index()
    index.add(np.arange(len(texts)), texts)
    terms = sorted(set(index.query_terms(QUERIES[0])))
    slots = np.arange(len(texts))
    counts = index.term_counts(slots)[:, terms].toarray()
    contributions = index.term_scores(counts, slots, terms)
    np.testing.assert_allclose(contributions.sum(axis=1), index.scores(QUERIES[0]), atol=1e-5)


def test_saturation_of_an_absent_term_with_no_length_penalty_is_zero():
    """k1 = 0 (or an empty document at b = 1) makes 0/0 for an absent term: 0, not NaN."""
    tf = np.array([0.0, 2.0])
    np.testing.assert_array_equal(saturation(tf, np.array([3.0, 3.0]), 3.0, 0.0, 0.75), [0.0, 1.0])
    np.testing.assert_array_equal(saturation(tf, np.array([0.0, 0.0]), 3.0, 1.2, 1.0), [0.0, 1.0])
