"""HTTP API: answers equal the library's, bad input gets 4xx naming the field, updates persist."""

from __future__ import annotations

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from neurank.config import ServeConfig
from neurank.index.collection import Collection
from neurank.recommend import load_recommender
from neurank.search.pipeline import SearchPipeline

QUERY = "weather observations for climate research"


def test_search_returns_the_pipelines_hits_with_signal_scores(client, sample_collection):
    reference = SearchPipeline(sample_collection)
    for mode in ("bm25", "dense", "hybrid"):
        response = client.post("/search", json={"query": QUERY, "k": 5, "mode": mode})
        assert response.status_code == 200, response.text
        body = response.json()
        expected = reference.search(QUERY, k=5, mode=mode)
        assert [h["id"] for h in body["hits"]] == [h.id for h in expected]
        assert [h["rank"] for h in body["hits"]] == list(range(1, len(expected) + 1))
        assert len(expected) >= 4
        for hit, ref in zip(body["hits"], expected, strict=True):
            assert hit["scores"] == pytest.approx(ref.scores)
            assert hit["title"] == ref.title and hit["snippet"]
        assert body["mode"] == mode and body["took_ms"] > 0


def test_learned_mode_is_served_with_the_ranker_score(make_client, sample_collection,
                                                      sample_dir):
    from neurank.config import RankerConfig
    from neurank.data import read_beir
    from neurank.search.ranker import store_ranker
    from neurank.search.ranker_training import train_ranker

    reference = SearchPipeline(sample_collection)
    without = make_client().post("/search", json={"query": QUERY, "mode": "learned"})
    assert without.status_code == 400 and "ranker train" in without.text
    trained = train_ranker(reference, read_beir(sample_dir, "train"),
                           RankerConfig(kind="lambdamart"), show_progress=False)
    store_ranker(sample_collection, trained.ranker)
    body = make_client().post("/search", json={"query": QUERY, "k": 5, "mode": "learned"}).json()
    expected = reference.search(QUERY, k=5, mode="learned")
    assert [h["id"] for h in body["hits"]] == [h.id for h in expected]
    assert body["hits"][0]["scores"] == pytest.approx(expected[0].scores)
    assert {"ranker", "learned", "bm25", "dense"} <= set(body["hits"][0]["scores"])


def test_search_filters(client):
    body = client.post("/search", json={"query": QUERY, "k": 20,
                                        "filters": {"category": "climate"}}).json()
    assert body["hits"] and all(h["metadata"]["category"] == "climate" for h in body["hits"])
    body = client.post("/search", json={"query": QUERY, "k": 20,
                                        "filters": {"quality": {"gte": 0.9}}}).json()
    assert body["hits"] and all(h["metadata"]["quality"] >= 0.9 for h in body["hits"])
    misspelt = client.post("/search", json={"query": QUERY, "filters": {"qualty": 1}})
    assert misspelt.status_code == 422
    assert misspelt.json()["detail"].startswith("filters.qualty: no document has")


@pytest.mark.parametrize(("payload", "field"), [
    ({"query": QUERY, "k": 0}, "k"),
    ({"query": QUERY, "k": 101}, "k"),
    ({"query": QUERY, "mode": "fuzzy"}, "mode"),
    ({"k": 3}, "query"),
    ({"query": "   "}, "query"),
    ({"query": "x" * 2001}, "query"),
    ({"query": QUERY, "colour": "red"}, "colour"),
    ({"query": QUERY, "filters": {"quality": {}}}, "filters.quality"),
    ({"query": QUERY, "filters": {"quality": []}}, "filters.quality"),
    ({"query": QUERY, "filters": {"quality": {"between": 1}}}, "between"),
])
def test_bad_search_requests_get_422_naming_the_field(client, payload, field):
    response = client.post("/search", json=payload)
    assert response.status_code == 422
    assert field in response.json()["detail"]


def test_nan_and_broken_json_are_refused(client):
    headers = {"content-type": "application/json"}
    response = client.post("/search", content=b'{"query": "x", "filters": {"q": {"gte": NaN}}}',
                           headers=headers)
    assert response.status_code == 422 and "filters.q.gte" in response.json()["detail"]
    response = client.post("/search", content=b'{"query": "x"', headers=headers)
    assert response.status_code == 422 and "not valid JSON" in response.json()["detail"]


def test_oversized_bodies_get_413_declared_or_streamed(make_client):
    client = make_client(config=ServeConfig(max_body_bytes=2048))
    big = json.dumps({"query": "x" * 5000}).encode()
    assert client.post("/search", content=big).status_code == 413

    def chunks():  # no Content-Length: the limit must hold while streaming
        yield big[:1500]
        yield big[1500:]

    response = client.post("/search", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "2048" in response.json()["detail"]


def test_recommend_matches_the_model_and_flags_cold_start(client, recommender_dir):
    model = load_recommender(recommender_dir)
    body = client.post("/recommend", json={"user": "u3", "k": 5}).json()
    expected = model.recommend(["u3"], 5)[0]
    assert [i["item"] for i in body["items"]] == expected.items
    assert body["cold_start"] is False
    body = client.post("/recommend", json={"user": "stranger", "k": 5}).json()
    assert body["cold_start"] is True and len(body["items"]) == 5
    seen = client.post("/recommend", json={"user": "u3", "k": 40, "exclude_seen": False}).json()
    assert len(seen["items"]) == 40


def test_similar_items_and_unknown_item(client, recommender_dir):
    model = load_recommender(recommender_dir)
    body = client.get("/items/i3/similar", params={"k": 4}).json()
    assert [i["item"] for i in body["items"]] == [t for t, _ in model.similar_items(["i3"], 4)[0]]
    response = client.get("/items/nope/similar")
    assert response.status_code == 404 and "nope" in response.json()["detail"]
    assert client.get("/items/i3/similar", params={"k": 0}).status_code == 422


def test_missing_parts_are_404_with_the_flag_to_use(make_client):
    no_recommender = make_client(recommender=False)
    response = no_recommender.post("/recommend", json={"user": "u1"})
    assert response.status_code == 404 and "--recommender" in response.json()["detail"]
    no_collection = make_client(collection=False)
    response = no_collection.post("/search", json={"query": QUERY})
    assert response.status_code == 404 and "--collection" in response.json()["detail"]


def test_updates_follow_a_generation_committed_by_another_writer(client, sample_collection):
    folder = sample_collection.folder
    client.post("/search", json={"query": QUERY})  # the server has loaded generation 1
    other = Collection.load(folder)  # another process updates the folder meanwhile
    other.delete(["ds05"])
    other.save()
    response = client.delete("/documents/ds06")
    assert response.status_code == 200, response.text
    assert response.json()["generation"] == 3 and response.json()["documents"] == 38
    reloaded = Collection.load(folder)
    assert "ds05" not in reloaded and "ds06" not in reloaded  # neither write was lost


def test_put_and_delete_documents_persist(client, sample_collection):
    folder = sample_collection.folder
    generation = sample_collection.generation
    new = {"id": "new1", "title": "Glacier melt radar soundings",
           "text": "Ice thickness from airborne radar over glaciers.", "metadata": {"category": "ice"}}
    response = client.put("/documents", json={"documents": [new]})
    assert response.status_code == 200, response.text
    assert response.json() == {"upserted": 1, "deleted": 0, "documents": 41,
                               "generation": generation + 1}
    hits = client.post("/search", json={"query": "glacier radar ice thickness", "mode": "bm25",
                                        "k": 1}).json()["hits"]
    assert hits[0]["id"] == "new1"
    reloaded = Collection.load(folder)
    assert "new1" in reloaded and len(reloaded) == 41

    response = client.delete("/documents/new1")
    assert response.status_code == 200 and response.json()["documents"] == 40
    assert "new1" not in Collection.load(folder)

    response = client.delete("/documents/new1")
    assert response.status_code == 404 and "new1" in response.json()["detail"]
    assert len(Collection.load(folder)) == 40


@pytest.mark.parametrize(("documents", "field"), [
    ([{"id": "a", "title": "", "text": " "}], "documents[0].text"),
    ([{"id": "a", "text": "x"}, {"id": "a", "text": "y"}], "duplicate"),
    ([{"text": "no id"}], "documents.0.id"),
    ([], "documents"),
])
def test_bad_documents_are_refused_and_nothing_changes(client, sample_collection, documents, field):
    response = client.put("/documents", json={"documents": documents})
    assert response.status_code == 422 and field in response.json()["detail"]
    assert len(Collection.load(sample_collection.folder)) == 40


def test_a_failed_save_leaves_disk_and_memory_unchanged(make_client, sample_collection,
                                                        monkeypatch):
    client = make_client(raise_server_exceptions=False)
    client.post("/search", json={"query": QUERY})  # load the collection first

    def broken_save(self):
        raise OSError("disk full")

    monkeypatch.setattr(Collection, "save", broken_save)
    response = client.put("/documents", json={"documents": [{"id": "z", "text": "zebra stripes"}]})
    assert response.status_code == 500
    monkeypatch.undo()
    assert len(Collection.load(sample_collection.folder)) == 40
    hits = client.post("/search", json={"query": "zebra stripes", "mode": "bm25"}).json()["hits"]
    assert all(h["id"] != "z" for h in hits)
    assert client.get("/health").json()["documents"] == 40


def test_health_and_metrics(client):
    health = client.get("/health").json()
    assert health["loaded"] == {"collection": False, "recommender": False,
                                 "classifier": False}  # lazy
    assert health["documents"] == 40
    for _ in range(3):
        client.post("/search", json={"query": QUERY})
    client.post("/search", json={"query": QUERY, "k": 0})
    assert client.get("/health").json()["loaded"]["collection"] is True
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    requests = {(s.labels["endpoint"], s.labels["status"]): s.value
                for s in families["neurank_requests"].samples if s.name.endswith("_total")}
    assert requests[("/search", "200")] == 3 and requests[("/search", "422")] == 1
    latency = [s for s in families["neurank_request_duration_seconds"].samples
               if s.name.endswith("_count") and s.labels["endpoint"] == "/search"]
    assert latency[0].value == 4
    errors = {s.labels["kind"]: s.value for s in families["neurank_errors"].samples
              if s.name.endswith("_total")}
    assert errors["client"] == 1
    documents = families["neurank_collection_documents"].samples[0].value
    assert documents == 40


def test_api_key(make_client):
    client = make_client(config=ServeConfig(api_key="s3cret"))
    assert client.post("/search", json={"query": QUERY}).status_code == 401
    wrong = client.post("/search", json={"query": QUERY}, headers={"x-api-key": "guess"})
    assert wrong.status_code == 401 and "X-API-Key" in wrong.json()["detail"]
    ok = client.post("/search", json={"query": QUERY}, headers={"x-api-key": "s3cret"})
    assert ok.status_code == 200
    assert client.get("/health").status_code == 200 and client.get("/").status_code == 200


def test_rate_limit_answers_429_with_retry_after(make_client):
    client = make_client(config=ServeConfig(rate_limit=0.5, rate_burst=2))
    codes = [client.post("/recommend", json={"user": "u1"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    limited = client.post("/recommend", json={"user": "u1"})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert client.get("/health").status_code == 200  # probes are never limited


def test_web_page_and_assets_are_served_without_external_urls(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for asset in ("/static/app.js", "/static/style.css"):
        text = client.get(asset).text
        assert client.get(asset).status_code == 200
        assert "http://" not in text and "https://" not in text
    assert "https://" not in page.text and "http://" not in page.text


def test_rate_limit_cannot_be_dodged_by_rotating_an_unchecked_key(make_client):
    client = make_client(config=ServeConfig(rate_limit=0.5, rate_burst=2))
    codes = [client.post("/recommend", json={"user": "u1"},
                         headers={"x-api-key": f"rotating-{i}"}).status_code for i in range(4)]
    assert codes == [200, 200, 429, 429]


def test_failed_authentications_are_rate_limited(make_client):
    client = make_client(config=ServeConfig(api_key="s3cret", rate_limit=0.5, rate_burst=3))
    codes = [client.post("/search", json={"query": QUERY},
                         headers={"x-api-key": f"guess-{i}"}).status_code for i in range(6)]
    assert codes[:3] == [401] * 3 and codes[3:] == [429] * 3


def test_health_hides_server_paths_while_a_key_is_required(make_client, sample_collection):
    open_health = make_client().get("/health").json()
    assert open_health["collection"] == str(sample_collection.folder)
    guarded = make_client(config=ServeConfig(api_key="s3cret")).get("/health").json()
    assert guarded["collection"] == sample_collection.folder.name
    assert "/" not in guarded["collection"] and "/" not in (guarded["recommender"] or "")


@pytest.mark.parametrize(("document", "field", "message"), [
    ({"id": "x", "text": "t", "metadata": {"m": json.loads("[" * 300 + "]" * 300)}},
     "documents[0].metadata.m", "nested deeper"),
    ({"id": "x", "text": "bad \ud800"}, "documents[0].text", "lone surrogate"),
    ({"id": "x", "text": "t", "metadata": {"k": "v\ud800"}}, "documents[0].metadata.k",
     "lone surrogate"),
    ({"id": "x\ny", "text": "t"}, "documents[0].id", "one line"),
    ({"id": "x", "text": "nul\u0000"}, "documents[0].text", "NUL"),
    ({"id": "x", "text": "t", "metadata": {"n": 2**70}}, "documents[0].metadata.n", "64 bits"),
])
def test_put_refuses_what_the_readers_refuse_and_search_still_works(client, document, field,
                                                                     message):
    body = json.dumps({"documents": [document]}, ensure_ascii=True)
    response = client.put("/documents", content=body,
                          headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"] and message in response.json()["detail"]
    assert client.post("/search", json={"query": QUERY, "filters": {"category": "climate"}}
                       ).status_code == 200


@pytest.mark.parametrize("filters", [{"category": "x\ud800"}, {"cat\ud800": "x"},
                                     {"cat\u0000": "x"}])
def test_filters_with_unencodable_text_are_422(client, filters):
    body = json.dumps({"query": QUERY, "filters": filters}, ensure_ascii=True)
    response = client.post("/search", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert "filters" in response.json()["detail"]


def test_docs_page_needs_no_internet_and_no_key(make_client):
    client = make_client(config=ServeConfig(api_key="s3cret"))
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    assert "https://" not in page.text and "http://" not in page.text
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs-assets/swagger-ui.css").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "neurank"
    assert client.post("/search", json={"query": QUERY}).status_code == 401  # the API still is


def test_hits_carry_the_spans_bm25_matched(client):
    hits = client.post("/search", json={"query": "the daily weather stations", "mode": "bm25",
                                        "k": 3}).json()["hits"]
    marked = {hit["snippet"][a:b].lower() for hit in hits
              for a, b in hit["highlights"]["snippet"]}
    marked |= {hit["title"][a:b].lower() for hit in hits for a, b in hit["highlights"]["title"]}
    assert {"daily", "weather", "stations"} <= marked
    assert "the" not in marked  # stopwords are not what matched
    assert all(a < b for hit in hits for a, b in hit["highlights"]["snippet"])


def test_recommend_from_a_profile_items_or_nothing(make_client, tmp_path, interactions):
    from neurank.data.profiles import FeatureTable
    from neurank.recommend import MODELS
    from neurank.serve import create_app

    users = FeatureTable(interactions.user_ids, [{"group": ["even", "odd"][u % 2]}
                                                 for u in range(60)])
    items = FeatureTable(interactions.item_ids, [{"title": f"Item {i}", "price": i,
                                                  "tags": ["low" if i < 20 else "high"]}
                                                 for i in range(40)])
    folder = MODELS["pop-segment"]().with_features(users, items).fit(interactions).save(
        tmp_path / "segment")
    from fastapi.testclient import TestClient

    with TestClient(create_app(None, folder)) as client:
        odd = client.post("/recommend", json={"profile": {"group": "odd"}, "k": 5}).json()
        assert odd["source"] == "profile" and odd["cold_start"] is True
        assert all(item["fields"]["price"] >= 20 for item in odd["items"])
        assert odd["items"][0]["fields"]["title"].startswith("Item ")
        cheap = client.post("/recommend", json={"profile": {"group": "odd"}, "k": 5,
                                                "filters": {"price": {"lt": 22}}}).json()
        assert [i["fields"]["price"] < 22 for i in cheap["items"]] == [True] * len(cheap["items"])
        folded = client.post("/recommend", json={"known_items": ["i1", "i2"], "k": 3}).json()
        assert folded["source"] == "fold-in" and "i1" not in [i["item"] for i in folded["items"]]
        assert client.post("/recommend", json={}).json()["source"] == "popularity"
        known = client.post("/recommend", json={"user": "u3", "k": 3}).json()
        assert known["source"] == "profile" and known["cold_start"] is False
        unknown_item = client.post("/recommend", json={"known_items": ["nope"]})
        assert unknown_item.status_code == 404 and "nope" in unknown_item.json()["detail"]
    with TestClient(create_app(None, MODELS["pop"]().fit(interactions).save(tmp_path / "p"))
                    ) as client:
        refused = client.post("/recommend", json={"profile": {"group": "odd"}})
        assert refused.status_code == 400 and "reads no profiles" in refused.json()["detail"]
