"""A served sample collection (tiny model) and an item-kNN recommender, behind TestClient."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def recommender_dir(tmp_path: Path, interactions) -> Path:
    from neurank.recommend.knn import ItemKNN

    return ItemKNN().fit(interactions).save(tmp_path / "knn")


@pytest.fixture
def make_client(sample_collection, recommender_dir) -> Iterator[Callable[..., TestClient]]:
    """Builds clients over the sample collection and recommender; `config` sets limits."""
    from neurank.config import ServeConfig
    from neurank.serve import create_app

    clients: list[TestClient] = []

    def make(*, config: ServeConfig | None = None, collection: bool = True,
             recommender: bool = True, **kwargs) -> TestClient:
        app = create_app(sample_collection.folder if collection else None,
                         recommender_dir if recommender else None, config)
        client = TestClient(app, **kwargs)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()
