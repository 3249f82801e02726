"""What a server holds: collection, recommender and classifier, each loaded on first use."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from neurank.errors import CollectionError, NotFoundError

if TYPE_CHECKING:
    from neurank.classify import Classifier
    from neurank.recommend.base import Recommender
    from neurank.search.pipeline import SearchPipeline

log = logging.getLogger("neurank.serve")
T = TypeVar("T")

class ReadWriteLock:
    """Many readers or one writer; a waiting writer keeps new readers out (no starvation)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer and not self._writers_waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            self._cond.wait_for(lambda: not self._writer and not self._readers)
            self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class Resources:
    """Lazily loaded, cached models of one server; thread-safe."""

    def __init__(self, collection: Path | None, recommender: Path | None,
                 classifier: Path | None = None) -> None:
        self.collection_dir = collection
        self.recommender_dir = recommender
        self.classifier_dir = classifier
        self.collection_lock = ReadWriteLock()
        self._load_lock = threading.Lock()
        self._pipeline: SearchPipeline | None = None
        self._recommender: Recommender | None = None
        self._classifier: Classifier | None = None

    @property
    def loaded(self) -> dict[str, bool]:
        return {"collection": self._pipeline is not None,
                "recommender": self._recommender is not None,
                "classifier": self._classifier is not None}

    def document_count(self) -> int | None:
        """Documents in the collection, from its manifest until it is loaded."""
        if self._pipeline is not None:
            return len(self._pipeline.collection)
        if self.collection_dir is None:
            return None
        from neurank.index.collection import read_manifest

        try:
            return int(read_manifest(self.collection_dir)["doc_count"])
        except CollectionError:
            return None

    def _load_once(self, attribute: str, folder: Path | None, what: str,
                   load: Callable[[Path], T]) -> T:
        """`self.<attribute>`, loaded from `folder` by the first caller (logged: that request
        waits for it); a missing folder is a 404 naming the serve option to add."""
        value = getattr(self, attribute)
        if value is not None:
            return value
        if folder is None:
            raise NotFoundError(f"this server has no {what} (start it with --{what} DIR)")
        with self._load_lock:
            value = getattr(self, attribute)
            if value is None:
                log.info("loading the %s from %s for the first request that needs it", what,
                         folder)
                started = time.perf_counter()
                value = load(folder)
                setattr(self, attribute, value)
                log.info("%s loaded in %.1f s", what, time.perf_counter() - started)
        return value

    def pipeline(self) -> SearchPipeline:
        """The search pipeline; the first call loads the collection and warms its encoder."""

        def load(folder: Path) -> SearchPipeline:
            from neurank.index.collection import Collection
            from neurank.search.pipeline import SearchPipeline

            pipeline = SearchPipeline(Collection.load(folder))
            # loads the model and its ONNX query session once, before traffic shares it
            pipeline.collection.encode_queries(["warm up"])
            return pipeline

        return self._load_once("_pipeline", self.collection_dir, "collection", load)

    def follow_other_writers(self) -> bool:
        """Reload the collection if another process committed a newer generation; True if so.

        Call it holding `collection_lock` for writing."""
        pipeline = self._pipeline
        if pipeline is None:
            return False
        collection = pipeline.collection
        if collection.committed_generation() == collection.generation:
            return False
        from neurank.index.collection import Collection

        collection.close()
        pipeline.collection = Collection.load(collection.folder, encoder=collection.encoder)
        return True

    def recommender(self) -> Recommender:
        """The recommender, loaded (and verified) on first use."""
        from neurank.recommend import load_recommender

        return self._load_once("_recommender", self.recommender_dir, "recommender",
                               load_recommender)

    def classifier(self) -> Classifier:
        """The classifier, loaded (and verified, its encoder warmed) on first use."""

        def load(folder: Path) -> Classifier:
            from neurank.classify import Classifier

            classifier = Classifier(folder)
            classifier.probabilities(["warm up"])
            return classifier

        return self._load_once("_classifier", self.classifier_dir, "classifier", load)
