"""The FastAPI app: search, recommendations, document updates, health, metrics, the web page."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from neurank.config import ServeConfig
from neurank.data.corpus import Document
from neurank.data.validate import Invalid, check_id, check_metadata, check_string
from neurank.errors import CheckpointError, CollectionError, ModelError, NeurankError, NotFoundError
from neurank.index.filters import FilterError, validate_filters
from neurank.recommend.base import Recommendations, Recommender
from neurank.recommend.request import RecommendRequest as ChainRequest
from neurank.recommend.request import answer, describe_items
from neurank.search.snippets import snippet
from neurank.serve.batching import MicroBatcher
from neurank.serve.guard import Guard
from neurank.serve.metrics import ServiceMetrics
from neurank.serve.ratelimit import RateLimiter
from neurank.serve.resources import Resources
from neurank.serve.schemas import (
    ClassifyRequest,
    ClassifyResponse,
    DocumentIn,
    DocumentsRequest,
    ErrorBody,
    Health,
    LabelPrediction,
    RangeFilter,
    RecommendRequest,
    RecommendResponse,
    ScoredItem,
    SearchHit,
    SearchRequest,
    SearchResponse,
    SimilarResponse,
    UpdateResponse,
)

STATIC = Path(__file__).parent / "static"
DOCS_ASSETS = "/docs-assets"
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 404, 413, 422, 429)}
# a request the loaded collection or model cannot answer (learned mode without a ranker, a
# profile for a model that reads none, a filter without a catalog)
_UNANSWERABLE_ERRORS = {**_ERRORS, 400: {"model": ErrorBody}}


@dataclass(frozen=True)
class SearchJob:
    query: str
    k: int
    mode: str
    filters: str  # canonical JSON, so equal filters group into one batch


@dataclass(frozen=True)
class RecommendJob:
    user: str | None
    k: int
    exclude_seen: bool
    chain: ChainRequest | None = None
    """set when the request needs more than a known user's top-k (profile, items, filters)"""


def _invalid(field: str, message: str) -> HTTPException:
    return HTTPException(422, f"{field}: {message}")


def _check_document(doc: DocumentIn, where: str) -> None:
    """What the readers refuse is refused here too (one rule set: `data/validate.py`)."""
    try:
        check_id(doc.id)
    except Invalid as exc:
        raise _invalid(f"{where}.id", str(exc)) from None
    for name in ("title", "text"):
        try:
            check_string(getattr(doc, name), name)
        except Invalid as exc:
            raise _invalid(f"{where}.{name}", str(exc)) from None
    if not (doc.title.strip() or doc.text.strip()):
        raise _invalid(f"{where}.text", "a document needs a title or a text")
    try:
        check_metadata(doc.metadata)
    except Invalid as exc:
        inner = f".{exc.where}" if exc.where else ""
        raise _invalid(f"{where}.metadata{inner}", str(exc)) from None


def _filters_json(filters: dict[str, Any] | None, limit: int) -> str:
    """Filters checked by the shared grammar, as a canonical key for grouping requests."""
    if not filters:
        return ""
    if len(filters) > limit:
        raise _invalid("filters", f"at most {limit} fields")
    plain = {name: value.model_dump(exclude_none=True) if isinstance(value, RangeFilter) else value
             for name, value in filters.items()}
    try:
        return json.dumps(validate_filters(plain), sort_keys=True)
    except FilterError as exc:
        raise _invalid(f"filters.{exc.field}" if exc.field else "filters", str(exc)) from None


def _recommend_response(model: Recommender, rec: Recommendations) -> RecommendResponse:
    details = rec.details or [{} for _ in rec.items]
    return RecommendResponse(
        user=rec.user, cold_start=rec.cold_start, source=rec.source, took_ms=0.0,
        items=[ScoredItem(item=t, score=s, because=d.get("because", []),
                          fields={k: v for k, v in d.items() if k != "because"})
               for t, s, d in zip(rec.items, rec.scores, details, strict=True)])


class Service:
    """Holds what the routes share: models, limits, worker threads, batchers, metrics."""

    def __init__(self, collection: Path | None, recommender: Path | None,
                 config: ServeConfig, classifier: Path | None = None) -> None:
        self.config = config
        self.resources = Resources(collection, recommender, classifier)
        self.metrics = ServiceMetrics()
        self._executor: ThreadPoolExecutor | None = None
        self.search_batcher: MicroBatcher[SearchJob, SearchResponse] = MicroBatcher(
            self._search_batch, self.run, workers=config.workers,
            on_batch=self.metrics.batch_size.observe)
        self.recommend_batcher: MicroBatcher[RecommendJob, RecommendResponse] = MicroBatcher(
            self._recommend_batch, self.run, workers=config.workers)
        self.classify_batcher: MicroBatcher[tuple[str, ...], list[LabelPrediction]] = (
            MicroBatcher(self._classify_batch, self.run, workers=config.workers))

    async def run(self, fn, *args):
        """`fn(*args)` on one of the service's worker threads (sized to the cores, not 40)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.config.workers,
                                                thread_name_prefix="neurank-serve")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def stop(self) -> None:
        """Lets running work finish and frees the threads; a later request starts new ones."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------------ search
    def _search_batch(self, jobs: Sequence[SearchJob]) -> list[SearchResponse | BaseException]:
        groups: dict[tuple[int, str, str], list[int]] = defaultdict(list)
        for i, job in enumerate(jobs):
            groups[(job.k, job.mode, job.filters)].append(i)
        results: list[SearchResponse | BaseException] = [None] * len(jobs)  # type: ignore[list-item]
        with self.resources.collection_lock.read():
            pipeline = self.resources.pipeline()
            for (k, mode, filters), members in groups.items():
                queries = [jobs[i].query for i in members]
                try:
                    hit_lists = pipeline.search_batch(queries, k=k, mode=mode,  # type: ignore[arg-type]
                                                      filters=json.loads(filters) if filters else None)
                except NeurankError as exc:
                    for i in members:
                        results[i] = exc
                    continue
                analyzer = pipeline.collection.bm25.analyzer
                for i, hits in zip(members, hit_lists, strict=True):
                    query = jobs[i].query
                    terms = set(analyzer(query))
                    out = []
                    for h in hits:
                        excerpt = snippet(h.text, query)
                        out.append(SearchHit(
                            id=h.id, rank=h.rank, score=h.score, scores=h.scores, title=h.title,
                            snippet=excerpt, metadata=h.metadata,
                            highlights={"title": analyzer.spans(h.title, terms),
                                        "snippet": analyzer.spans(excerpt, terms)}))
                    results[i] = SearchResponse(query=query, mode=mode, k=k, took_ms=0.0,
                                                hits=out)
        return results

    async def search(self, body: SearchRequest) -> SearchResponse:
        if len(body.query) > self.config.max_query_chars:
            raise _invalid("query", f"longer than {self.config.max_query_chars} characters")
        if not body.query.strip():
            raise _invalid("query", "empty (only whitespace)")
        if body.k > self.config.max_k:
            raise _invalid("k", f"at most {self.config.max_k}")
        job = SearchJob(body.query, body.k, body.mode,
                        _filters_json(body.filters, self.config.max_filters))
        started = time.perf_counter()
        response = await self.search_batcher.submit(job)
        return response.model_copy(update={"took_ms": (time.perf_counter() - started) * 1e3})

    # ------------------------------------------------------------------ recommendations
    def _recommend_batch(self, jobs: Sequence[RecommendJob]
                         ) -> list[RecommendResponse | BaseException]:
        model = self.resources.recommender()
        groups: dict[tuple[int, bool], list[int]] = defaultdict(list)
        results: list[RecommendResponse | BaseException] = [None] * len(jobs)  # type: ignore[list-item]
        for i, job in enumerate(jobs):
            if job.chain is None:
                groups[(job.k, job.exclude_seen)].append(i)
                continue
            try:
                results[i] = _recommend_response(model, answer(model, job.chain))
            except NeurankError as exc:
                results[i] = exc
        for (k, exclude_seen), members in groups.items():
            recs = model.recommend([jobs[i].user for i in members], k,  # type: ignore[misc]
                                   exclude_seen=exclude_seen)
            for i, rec in zip(members, recs, strict=True):
                rec.details = describe_items(model, rec.items)
                results[i] = _recommend_response(model, rec)
        return results

    async def recommend(self, body: RecommendRequest) -> RecommendResponse:
        if body.k > self.config.max_k:
            raise _invalid("k", f"at most {self.config.max_k}")
        filters = _filters_json(body.filters, self.config.max_filters)
        chain = None
        if body.profile is not None or body.known_items or filters or body.user is None or \
                body.max_per_category or body.explain:
            chain = ChainRequest(user=body.user, profile=body.profile,
                                 known_items=body.known_items, k=body.k,
                                 filters=json.loads(filters) if filters else {},
                                 max_per_category=body.max_per_category, explain=body.explain,
                                 exclude_seen=body.exclude_seen)
        started = time.perf_counter()
        response = await self.recommend_batcher.submit(
            RecommendJob(body.user, body.k, body.exclude_seen, chain))
        return response.model_copy(update={"took_ms": (time.perf_counter() - started) * 1e3})

    def similar(self, item: str, k: int) -> SimilarResponse:
        pairs = self.resources.recommender().similar_items([item], k)[0]
        return SimilarResponse(item=item, items=[ScoredItem(item=t, score=s) for t, s in pairs])

    # ------------------------------------------------------------------ classification
    def _classify_batch(self, jobs: Sequence[tuple[str, ...]]) -> list[list[LabelPrediction]]:
        """Every queued request's texts in one encoder pass, split back per request."""
        texts = [text for job in jobs for text in job]
        predictions = self.resources.classifier().predict(texts)
        out, start = [], 0
        for job in jobs:
            out.append([LabelPrediction(labels=p.labels, scores=p.scores)
                        for p in predictions[start:start + len(job)]])
            start += len(job)
        return out

    async def classify(self, body: ClassifyRequest) -> ClassifyResponse:
        if len(body.texts) > self.config.max_texts:
            raise _invalid("texts", f"at most {self.config.max_texts} per request")
        for i, text in enumerate(body.texts):
            if len(text) > self.config.max_text_chars:
                raise _invalid(f"texts[{i}]", f"longer than {self.config.max_text_chars} "
                                              "characters")
            if not text.strip():
                raise _invalid(f"texts[{i}]", "empty (only whitespace)")
        started = time.perf_counter()
        results = await self.classify_batcher.submit(tuple(body.texts))
        return ClassifyResponse(took_ms=(time.perf_counter() - started) * 1e3, results=results)

    # ------------------------------------------------------------------ updates
    def _update(self, change) -> UpdateResponse:
        """Apply `change(collection)` and save a new generation; on failure, nothing changes."""
        pipeline = self.resources.pipeline()
        with self.resources.collection_lock.write():
            self.resources.follow_other_writers()
            collection = pipeline.collection
            try:
                counts = change(collection)
                collection.save()
            except BaseException:
                # drop the half-applied change: reopen what the manifest says is committed
                from neurank.index.collection import Collection

                collection.close()
                pipeline.collection = Collection.load(collection.folder,
                                                      encoder=collection.encoder)
                raise
            return UpdateResponse(**counts, documents=len(collection),
                                  generation=collection.generation)

    async def put_documents(self, body: DocumentsRequest) -> UpdateResponse:
        if len(body.documents) > self.config.max_documents:
            raise _invalid("documents", f"at most {self.config.max_documents} per request")
        ids = [doc.id for doc in body.documents]
        if len(set(ids)) != len(ids):
            raise _invalid("documents", "duplicate ids in one request")
        for i, doc in enumerate(body.documents):
            _check_document(doc, f"documents[{i}]")
        documents = [Document(id=d.id, title=d.title, text=d.text, metadata=d.metadata)
                     for d in body.documents]

        def upsert(collection) -> dict[str, int]:
            collection.upsert(documents)
            return {"upserted": len(documents)}

        return await self.run(self._update, upsert)

    async def delete_document(self, doc_id: str) -> UpdateResponse:
        def delete(collection) -> dict[str, int]:
            collection.delete([doc_id])
            return {"deleted": 1}

        return await self.run(self._update, delete)

    def health(self) -> Health:
        """Liveness and what is loaded; with an API key required, folders are shown by name
        only, since /health answers without the key."""
        resources = self.resources

        def shown(folder: Path | None) -> str | None:
            if folder is None:
                return None
            return folder.name if self.config.api_key else str(folder)

        return Health(status="ok", collection=shown(resources.collection_dir),
                      recommender=shown(resources.recommender_dir),
                      classifier=shown(resources.classifier_dir),
                      loaded=resources.loaded, documents=resources.document_count())


def create_app(collection: str | Path | None = None, recommender: str | Path | None = None,
               config: ServeConfig | None = None,
               classifier: str | Path | None = None) -> FastAPI:
    """The HTTP app over a collection folder, a recommender and/or a classifier checkpoint."""
    config = config or ServeConfig()
    service = Service(Path(collection) if collection else None,
                      Path(recommender) if recommender else None, config,
                      Path(classifier) if classifier else None)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.stop()

    app = FastAPI(title="neurank", summary="Search and recommendations over your own data.",
                  version=_version(), lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.service = service
    _install_error_handlers(app)

    @app.post("/search", response_model=SearchResponse, responses=_UNANSWERABLE_ERRORS)
    async def search(body: SearchRequest) -> SearchResponse:
        """Hits for a query (bm25, dense or hybrid), each with its per-signal scores."""
        return await service.search(body)

    @app.post("/recommend", response_model=RecommendResponse, responses=_UNANSWERABLE_ERRORS)
    async def recommend(body: RecommendRequest) -> RecommendResponse:
        """Top-k items for a user; unknown users get popular items with cold_start=true."""
        return await service.recommend(body)

    @app.post("/classify", response_model=ClassifyResponse, responses=_ERRORS)
    async def classify(body: ClassifyRequest) -> ClassifyResponse:
        """Labels (over their dev-tuned thresholds) and probabilities for a batch of texts."""
        return await service.classify(body)

    @app.get("/items/{item_id}/similar", response_model=SimilarResponse, responses=_ERRORS)
    async def similar(item_id: Annotated[str, PathParam(min_length=1, max_length=500)],
                      k: Annotated[int, Query(ge=1)] = 10) -> SimilarResponse:
        """Items most similar to an item."""
        if k > config.max_k:
            raise _invalid("k", f"at most {config.max_k}")
        return await service.run(service.similar, item_id, k)

    @app.put("/documents", response_model=UpdateResponse, responses=_ERRORS)
    async def put_documents(body: DocumentsRequest) -> UpdateResponse:
        """Add or replace documents; saved as a new collection generation before answering."""
        return await service.put_documents(body)

    @app.delete("/documents/{doc_id}", response_model=UpdateResponse, responses=_ERRORS)
    async def delete_document(
            doc_id: Annotated[str, PathParam(min_length=1, max_length=500)]) -> UpdateResponse:
        """Delete a document; saved as a new collection generation before answering."""
        return await service.delete_document(doc_id)

    @app.get("/health", response_model=Health)
    async def health() -> Health:
        """Liveness, and which models are loaded."""
        return service.health()

    @app.get("/metrics", response_class=Response,
             responses={200: {"content": {"text/plain": {}}}})
    async def metrics() -> Response:
        """Prometheus text: request counts, latency histograms, errors, batch sizes."""
        documents = service.resources.document_count()
        if documents is not None:
            service.metrics.documents.set(documents)
        return Response(service.metrics.render(), media_type=service.metrics.content_type)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _install_docs(app)
    limiter = RateLimiter(config.rate_limit, config.rate_burst) if config.rate_limit else None
    app.add_middleware(Guard, metrics=service.metrics,  # type: ignore[arg-type]
                       max_body_bytes=config.max_body_bytes, api_key=config.api_key,
                       limiter=limiter)
    return app


def _install_docs(app: FastAPI) -> None:
    """/docs (Swagger UI 5, which reads OpenAPI 3.1) from the `swagger-ui-bundle-v2` package's
    assets: FastAPI's default page loads them from a CDN, blank on a machine offline."""
    import swagger_ui_bundle
    from fastapi.openapi.docs import get_swagger_ui_html

    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
              name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json",
                                   title="neurank API",
                                   swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png")


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            if error.get("type") == "json_invalid":
                position = error["loc"][-1]
                problems.append(f"body is not valid JSON (at character {position}): "
                                f"{error.get('ctx', {}).get('error', error.get('msg'))}")
                continue
            where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
            problems.append(f"{where or 'body'}: {error.get('msg', 'invalid')}")
        return JSONResponse({"detail": "; ".join(problems[:10])}, status_code=422)

    @app.exception_handler(NotFoundError)
    async def not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(FilterError)
    async def filter_error(_: Request, exc: FilterError) -> JSONResponse:
        where = f"filters.{exc.field}" if exc.field else "filters"
        return JSONResponse({"detail": f"{where}: {exc}"}, status_code=422)

    @app.exception_handler(NeurankError)
    async def neurank_error(_: Request, exc: NeurankError) -> JSONResponse:
        # a broken collection/model folder is the server's problem, not the request's
        server_side = isinstance(exc, (CollectionError, CheckpointError, ModelError))
        return JSONResponse({"detail": str(exc)}, status_code=503 if server_side else 400)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("neurank")
    except PackageNotFoundError:
        return "0"
