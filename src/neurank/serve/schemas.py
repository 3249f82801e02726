"""Request and response bodies of the HTTP API (they are also its OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from neurank.search.modes import Mode

Scalar = str | int | float | bool
FieldName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r'^[^"]+$')]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RangeFilter(_Body):
    """A numeric range on a metadata field; at least one bound."""

    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None


FilterValue = Scalar | list[Scalar] | RangeFilter


class SearchRequest(_Body):
    query: str = Field(min_length=1, description="query text (length limited by the server)")
    k: int = Field(10, ge=1, description="number of hits (at most the server's max_k)")
    mode: Mode = "hybrid"
    filters: dict[FieldName, FilterValue] | None = Field(
        None, description="metadata field -> value, list of values, or {gt, gte, lt, lte}")


class SearchHit(BaseModel):
    id: str
    rank: int
    score: float
    scores: dict[str, float] = Field(description="every signal that ranked the hit")
    title: str
    snippet: str
    metadata: dict[str, Any]
    highlights: dict[str, list[tuple[int, int]]] = Field(
        default_factory=dict, description="character spans of query terms (as the BM25 analyzer "
                                          "matches them) in 'title' and 'snippet'")


class SearchResponse(BaseModel):
    query: str
    mode: str
    k: int
    took_ms: float
    hits: list[SearchHit]


class RecommendRequest(_Body):
    """A known user, or a new one by profile and/or a few liked items (the cold-start chain);
    with none of them, popular items."""

    user: str | None = Field(None, min_length=1, max_length=200)
    profile: dict[FieldName, Scalar | list[Scalar]] | None = Field(
        None, max_length=100, description="a new user's features, e.g. {\"age\": 34}")
    known_items: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=200, description="items a new user already likes")
    k: int = Field(10, ge=1)
    filters: dict[FieldName, FilterValue] | None = Field(
        None, description="catalog filter, the grammar of /search")
    max_per_category: int | None = Field(None, ge=1)
    explain: bool = False
    exclude_seen: bool = True


class ScoredItem(BaseModel):
    item: str
    score: float
    fields: dict[str, Any] = Field(default_factory=dict, description="catalog fields (title...)")
    because: list[str] = Field(default_factory=list,
                               description="profile fields that lifted the item (explain)")


class RecommendResponse(BaseModel):
    user: str
    cold_start: bool = Field(description="true when the model has not trained on this user")
    source: str = Field("collaborative", description="the cold-start chain's step: "
                                                    "collaborative, profile, fold-in, popularity")
    took_ms: float
    items: list[ScoredItem]


class SimilarResponse(BaseModel):
    item: str
    items: list[ScoredItem]


class DocumentIn(_Body):
    id: str = Field(min_length=1, max_length=500)
    title: str = ""
    text: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)


class DocumentsRequest(_Body):
    documents: list[DocumentIn] = Field(min_length=1)


class UpdateResponse(BaseModel):
    upserted: int = 0
    deleted: int = 0
    documents: int = Field(description="documents in the collection after the update")
    generation: int = Field(description="collection generation now on disk")


class ClassifyRequest(_Body):
    texts: list[Annotated[str, StringConstraints(min_length=1)]] = Field(
        min_length=1, description="texts to classify (count and length limited by the server)")


class LabelPrediction(BaseModel):
    labels: list[str] = Field(description="labels at or over their tuned thresholds, most "
                                          "probable first")
    scores: dict[str, float] = Field(description="every label's probability")


class ClassifyResponse(BaseModel):
    took_ms: float
    results: list[LabelPrediction]


class Health(BaseModel):
    status: Literal["ok"]
    collection: str | None
    recommender: str | None
    classifier: str | None = None
    loaded: dict[str, bool]
    documents: int | None


class ErrorBody(BaseModel):
    detail: str
