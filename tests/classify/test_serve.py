"""POST /classify: lazy loading, batching across requests, limits and errors."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from neurank.classify import Classifier, read_labelled
from neurank.config import ServeConfig
from neurank.serve import create_app


@pytest.fixture
def client(tiny_classifier_dir):
    app = create_app(classifier=tiny_classifier_dir, config=ServeConfig(max_texts=4))
    with TestClient(app) as client:
        yield client


def test_classify_answers_like_the_library(client, tiny_classifier_dir, labelled_dir):
    texts = read_labelled(labelled_dir, "test").texts[:3]
    assert client.get("/health").json()["loaded"]["classifier"] is False  # lazy
    response = client.post("/classify", json={"texts": texts})
    assert response.status_code == 200, response.text
    expected = Classifier(tiny_classifier_dir).predict(texts)
    got = response.json()["results"]
    assert [r["labels"] for r in got] == [p.labels for p in expected]
    for result, prediction in zip(got, expected, strict=True):
        assert result["scores"] == pytest.approx(prediction.scores, abs=1e-5)
    health = client.get("/health").json()
    assert health["loaded"]["classifier"] is True and health["classifier"] == str(tiny_classifier_dir)


def test_concurrent_requests_get_their_own_answers(client, labelled_dir):
    texts = read_labelled(labelled_dir, "test").texts[:12]
    alone = [client.post("/classify", json={"texts": [t]}).json()["results"][0] for t in texts]
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(
            lambda t: client.post("/classify", json={"texts": [t]}).json()["results"][0], texts))
    for a, b in zip(alone, together, strict=True):
        assert a["labels"] == b["labels"]
        assert a["scores"] == pytest.approx(b["scores"], abs=1e-4)


@pytest.mark.parametrize(("body", "field"), [
    ({"texts": []}, "texts"),
    ({"texts": ["a"] * 5}, "texts: at most 4"),
    ({"texts": ["fine", "   "]}, "texts[1]: empty"),
    ({"texts": [""]}, "texts.0"),
    ({"text": "x"}, "texts"),
])
def test_bad_requests_are_422_naming_the_field(client, body, field):
    response = client.post("/classify", json=body)
    assert response.status_code == 422 and field in response.json()["detail"], response.text


def test_a_server_without_a_classifier_says_so(sample_collection):
    with TestClient(create_app(sample_collection.folder)) as client:
        response = client.post("/classify", json={"texts": ["x"]})
    assert response.status_code == 404 and "--classifier" in response.json()["detail"]
