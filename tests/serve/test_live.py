"""The real `neurank serve` process: concurrent clients and an update, no errors."""

from __future__ import annotations

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def _call(url: str, method: str = "GET", body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_sixteen_concurrent_clients_and_an_update_get_no_errors(live_server):
    queries = ["weather observations", "census population counts", "protein structures",
               "air quality sensors", "satellite images of crops", "river flow"]

    def client(i: int) -> list[int]:
        codes = []
        for j in range(6):
            if (i + j) % 3 == 0:
                codes.append(_call(live_server + "/recommend", "POST",
                                   {"user": f"u{(i * 7 + j) % 70}", "k": 5})[0])
            else:
                codes.append(_call(live_server + "/search", "POST",
                                   {"query": queries[(i + j) % len(queries)], "k": 5,
                                    "mode": ("bm25", "dense", "hybrid")[j % 3]})[0])
            if i == 5 and j == 2:
                codes.append(_call(live_server + "/documents", "PUT", {"documents": [
                    {"id": "live1", "title": "Volcanic ash plumes", "text": "ash dispersion"}]})[0])
        return codes

    with ThreadPoolExecutor(16) as pool:
        codes = [c for result in pool.map(client, range(16)) for c in result]
    assert len(codes) == 16 * 6 + 1 and set(codes) == {200}
    status, body = _call(live_server + "/search", "POST",
                         {"query": "volcanic ash plumes", "mode": "bm25", "k": 1})
    assert status == 200 and body["hits"][0]["id"] == "live1"
    with urllib.request.urlopen(live_server + "/metrics") as response:
        metrics = response.read().decode()
    assert 'neurank_errors_total' not in metrics or 'kind="server"' not in metrics
    assert "neurank_search_batch_size_count" in metrics


def test_the_server_logs_model_loading_and_each_request(live_server):
    import json
    import time
    import urllib.request

    request = urllib.request.Request(live_server + "/search", method="POST",
                                     data=json.dumps({"query": "climate"}).encode(),
                                     headers={"content-type": "application/json"})
    urllib.request.urlopen(request).read()
    deadline = time.monotonic() + 10
    while '"POST /search HTTP/1.1" 200' not in live_server.log.read_text():
        assert time.monotonic() < deadline, live_server.log.read_text()
        time.sleep(0.1)
    log = live_server.log.read_text()
    assert "loading the collection from" in log and "collection loaded in" in log
