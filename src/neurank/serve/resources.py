"""What a server holds: the collection and the recommender, loaded once on first use."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from neurank.errors import CollectionError, NotFoundError

if TYPE_CHECKING:
    from neurank.classify import Classifier
    from neurank.recommend.base import Recommender
    from neurank.search.pipeline import SearchPipeline


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

    def pipeline(self) -> SearchPipeline:
        """The search pipeline; the first call loads the collection and warms its encoder."""
        if self._pipeline is None:
            if self.collection_dir is None:
                raise NotFoundError("this server has no collection (start it with --collection DIR)")
            with self._load_lock:
                if self._pipeline is None:
                    from neurank.index.collection import Collection
                    from neurank.search.pipeline import SearchPipeline

                    pipeline = SearchPipeline(Collection.load(self.collection_dir))
                    # loads the model and its ONNX query session once, before traffic shares it
                    pipeline.collection.encode_queries(["warm up"])
                    self._pipeline = pipeline
        return self._pipeline

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
        if self._recommender is None:
            if self.recommender_dir is None:
                raise NotFoundError("this server has no recommender (start it with "
                                    "--recommender DIR)")
            with self._load_lock:
                if self._recommender is None:
                    from neurank.recommend import load_recommender

                    self._recommender = load_recommender(self.recommender_dir)
        return self._recommender

    def classifier(self) -> Classifier:
        """The classifier, loaded (and verified, its encoder warmed) on first use."""
        if self._classifier is None:
            if self.classifier_dir is None:
                raise NotFoundError("this server has no classifier (start it with "
                                    "--classifier DIR)")
            with self._load_lock:
                if self._classifier is None:
                    from neurank.classify import Classifier

                    classifier = Classifier(self.classifier_dir)
                    classifier.probabilities(["warm up"])
                    self._classifier = classifier
        return self._classifier
