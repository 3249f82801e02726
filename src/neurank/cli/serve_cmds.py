"""neurank serve: the HTTP API and web page over a collection and/or a recommender."""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from neurank.cli.app import app, console, console_err
from neurank.errors import NeurankError

API_KEY_ENV = "NEURANK_API_KEY"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    collection: Annotated[Path | None, typer.Option(help="Collection folder to search.")] = None,
    recommender: Annotated[Path | None, typer.Option(
        help="Recommender checkpoint folder (from `neurank rec train`).")] = None,
    classifier: Annotated[Path | None, typer.Option(
        help="Classifier checkpoint folder (from `neurank classify train`).")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    rate_limit: Annotated[float | None, typer.Option(
        help="Requests per second allowed per client (API key or IP); off when not given.")] = None,
    rate_burst: Annotated[int, typer.Option(help="Requests a client may send at once.")] = 20,
    max_k: Annotated[int, typer.Option(help="Most hits or items one request may ask for.")] = 100,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body accepted.")] = 2_000_000,
    workers: Annotated[int, typer.Option(help="Threads running searches and recommendations.")] = 2,
    preload: Annotated[bool, typer.Option(
        help="Load the models before listening instead of on the first request.")] = False,
    access_log: Annotated[bool, typer.Option(
        help="Log every request (client, method, path, status) to stderr.")] = True,
) -> None:
    """Serve search, recommendations and classification over HTTP, with a web page at /.

    Set NEURANK_API_KEY to require that key in the X-API-Key header of every API request.
    """
    import uvicorn

    from neurank.artifacts import read_checkpoint_manifest
    from neurank.config import ServeConfig
    from neurank.index.collection import read_manifest
    from neurank.serve import create_app

    if collection is None and recommender is None and classifier is None:
        raise NeurankError("give --collection DIR, --recommender DIR and/or --classifier DIR")
    if collection is not None:
        read_manifest(collection)  # a wrong folder fails now, not on the first request
    for checkpoint in (recommender, classifier):
        if checkpoint is not None:
            read_checkpoint_manifest(checkpoint)
    api_key = os.environ.get(API_KEY_ENV) or None
    config = ServeConfig(max_k=max_k, max_body_bytes=max_body_bytes, workers=workers,
                         api_key=api_key, rate_limit=rate_limit, rate_burst=rate_burst)
    if not _is_loopback(host) and not api_key:
        console_err.print(f"[yellow]warning:[/] listening on {host} without an API key; set "
                          f"{API_KEY_ENV} to require one")
    logging.basicConfig(format="%(asctime)s %(name)s: %(message)s", level=logging.WARNING)
    logging.getLogger("neurank").setLevel(logging.INFO)  # model loading, said when it happens
    application = create_app(collection, recommender, config, classifier)
    if preload:
        service = application.state.service
        if collection is not None:
            service.resources.pipeline()
        if recommender is not None:
            service.resources.recommender()
        if classifier is not None:
            service.resources.classifier()
    console.print(f"[green]serving[/] on http://{host}:{port}  (API docs at /docs"
                  f"{', API key required' if api_key else ''}"
                  f"{f', {rate_limit:g} req/s per client' if rate_limit else ''})")
    uvicorn.run(application, host=host, port=port, log_level="info" if access_log else "warning",
                access_log=access_log)
