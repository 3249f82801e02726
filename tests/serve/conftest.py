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


class LiveServer(str):
    """The server's base URL; `.log` is the file holding its stdout and stderr."""

    log: Path


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def live_server(tmp_path_factory, tiny_encoder, tiny_model_dir, sample_documents, interactions):
    """`neurank serve` in a subprocess on a free loopback port; yields its base URL."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    from neurank.config import CollectionConfig
    from neurank.index import Collection
    from neurank.recommend.knn import ItemKNN

    folder = tmp_path_factory.mktemp("live")
    Collection.build(folder / "coll", sample_documents, CollectionConfig(model=str(tiny_model_dir)),
                     encoder=tiny_encoder, show_progress=False)
    ItemKNN().fit(interactions).save(folder / "knn")
    port = _free_port()
    log = open(folder / "server.log", "w")  # noqa: SIM115 - closed after the server stops
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OPENBLAS_NUM_THREADS": "1"}
    env.pop("NEURANK_API_KEY", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "neurank.cli", "serve", "--collection", str(folder / "coll"),
         "--recommender", str(folder / "knn"), "--port", str(port), "--preload"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    url = LiveServer(f"http://127.0.0.1:{port}")
    url.log = folder / "server.log"
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                raise AssertionError(f"server exited: {(folder / 'server.log').read_text()}")
            try:
                urllib.request.urlopen(url + "/health", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("server did not answer /health within 120 s") from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(30)
        log.close()
