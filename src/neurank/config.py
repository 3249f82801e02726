"""Pydantic configs: one source of defaults, filled from CLI flags or YAML, echoed into artifacts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# a group containing + or * (or {n,}) that is itself followed by + * or {
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*(?:[+*]|\{\d*,)(?:[^()\\]|\\.)*\)\s*[+*{]")


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


C = TypeVar("C", bound=BaseModel)


def read_settings(path: Path) -> dict[str, Any]:
    """The mapping in a YAML (or JSON) file; a clear error naming the file otherwise."""
    import yaml

    from neurank.errors import NeurankError

    try:
        settings = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise NeurankError(f"{path}: {exc}") from None
    if not isinstance(settings, dict):
        raise NeurankError(f"{path}: expected a mapping of settings, got {type(settings).__name__}")
    return settings


def validate_settings(settings: dict[str, Any], model: type[C], source: str) -> C:
    """`model` from `settings`; a validation error names `source` and the bad fields."""
    from pydantic import ValidationError

    from neurank.errors import NeurankError

    try:
        return model.model_validate(settings)
    except ValidationError as exc:
        raise NeurankError(f"{source}: {exc}") from None


class AnalyzerConfig(_Config):
    """How text becomes BM25 terms (same rules as bm25s' tokenizer) and the BM25 parameters."""

    lowercase: bool = True
    token_pattern: str = r"(?u)\b\w\w+\b"
    stopwords: str | None = "english"
    stemmer: str | None = "english"
    k1: float = Field(1.2, ge=0.0)
    b: float = Field(0.75, ge=0.0, le=1.0)

    @field_validator("token_pattern")
    @classmethod
    def _safe_pattern(cls, pattern: str) -> str:
        """A valid regex without a repeated group that itself repeats (catastrophic backtracking)."""
        if len(pattern) > 200:
            raise ValueError("token_pattern is longer than 200 characters")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"token_pattern is not a valid regular expression: {exc}") from None
        if _NESTED_QUANTIFIER.search(pattern):
            raise ValueError(f"token_pattern {pattern!r} repeats a group that repeats inside "
                             "(e.g. (a+)+), which can take exponential time")
        return pattern


class VectorIndexConfig(_Config):
    """Where vectors live (FAISS in process, or Milvus) and how they are searched."""

    backend: Literal["faiss", "milvus"] = "faiss"
    kind: Literal["flat", "hnsw"] = "flat"
    hnsw_m: int = Field(32, ge=4)
    ef_construction: int = Field(200, ge=8)
    ef_search: int = Field(128, ge=8)
    # HNSW graphs cannot drop nodes: deleted vectors stay as tombstones until this share is reached
    compact_ratio: float = Field(0.25, gt=0.0, le=1.0)
    milvus_uri: str | None = Field(
        None, description="Milvus server URI; None = embedded milvus-lite file in the folder")
    milvus_token_env: str = Field(
        "NEURANK_MILVUS_TOKEN", description="environment variable holding the Milvus token")


class FusionConfig(_Config):
    """How BM25 and dense scores become one hybrid score."""

    method: Literal["weighted", "rrf"] = "weighted"
    normalization: Literal["minmax", "zscore"] = "minmax"
    dense_weight: float = Field(0.5, ge=0.0, le=1.0)
    rrf_k: int = Field(60, ge=1)
    candidates: int = Field(100, ge=1, description="top-N taken from each retriever before fusing")


class BoostConfig(_Config):
    """Multiplicative boosts on the fused score; a factor of 1.0 turns a boost off."""

    title_match: float = Field(1.0, gt=0.0)
    category_match: float = Field(1.0, gt=0.0)
    category_field: str = "category"
    quality: float = Field(1.0, gt=0.0)
    quality_field: str = "quality"
    quality_threshold: float = 0.85

    @property
    def active(self) -> bool:
        return (self.title_match, self.category_match, self.quality) != (1.0, 1.0, 1.0)


class TuningRecord(_Config):
    """Where a collection's settings were chosen, so evaluations on that data can say so."""

    dataset: str
    split: str
    queries: int
    metric: str
    score: float
    query_ids: list[str] | None = Field(
        None, description="with --dev-fraction: the queries of the split tuning used; "
                          "evaluate leaves them out of that split")
    cv_folds: int | None = Field(None, description="with --cv K: the number of folds")
    cv_score: float | None = Field(
        None, description="with --cv K: the metric with every query scored by settings chosen "
                          "on the other folds (what tuning on this split is worth on unseen "
                          "queries)")


class CollectionConfig(_Config):
    """Everything a collection folder was built with; stored in its manifest."""

    model: str = DEFAULT_MODEL
    encoder: Literal["auto", "torch", "onnx"] = Field(
        "auto", description="runtime of the model: ONNX Runtime int8 (CPU) or torch; auto = "
                            "torch on a GPU, onnx otherwise; recorded as chosen at build time")
    dim: int | None = Field(
        None, ge=1, description="keep the model's first `dim` dimensions, renormalised "
                                "(Matryoshka-trained models); None = all")
    analyzer: AnalyzerConfig = AnalyzerConfig()
    vectors: VectorIndexConfig = VectorIndexConfig()
    fusion: FusionConfig = FusionConfig()
    boosts: BoostConfig = BoostConfig()
    min_score: float | None = Field(
        None, description="hits whose final score (after boosts) is below this are dropped")
    tuned_on: TuningRecord | None = Field(
        None, description="the data `neurank tune` chose the fusion on (None: defaults)")


class TrainerConfig(_Config):
    """The one training loop's settings; every torch model in neurank trains with these."""

    epochs: int = Field(20, ge=1)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    module_lrs: dict[str, float] = Field(
        default_factory=dict, description="parameter-name prefix -> learning rate (param groups)")
    schedule: Literal["constant", "warmup_cosine", "plateau"] = "constant"
    warmup_ratio: float = Field(0.0, ge=0.0, lt=1.0)
    min_lr_ratio: float = Field(0.0, ge=0.0, le=1.0)
    plateau_factor: float = Field(0.5, gt=0.0, lt=1.0)
    plateau_patience: int = Field(1, ge=0)
    grad_clip: float | None = Field(None, gt=0.0)
    grad_accumulation: int = Field(1, ge=1)
    patience: int | None = Field(3, ge=1, description="early stopping: epochs without improvement")
    monitor: str = "ndcg@10"
    monitor_mode: Literal["max", "min"] = "max"
    seed: int = 0
    amp: bool = True
    device: str | None = None
    max_time_s: float | None = Field(None, gt=0.0, description="stop after this many seconds")
    tensorboard_dir: str | None = None
    show_progress: bool = True


class ClassifierConfig(_Config):
    """A multi-label text classifier: which encoder, frozen or fine-tuned, head and loss."""

    mode: Literal["frozen", "finetune"] = Field(
        "frozen", description="frozen: embeddings computed once + a trained head (seconds); "
                              "finetune: the encoder trained end to end with the head")
    base: str = DEFAULT_MODEL
    encoder: Literal["auto", "torch", "onnx"] = Field(
        "auto", description="runtime that embeds texts (frozen training and prediction)")
    hidden: int = Field(512, ge=0, description="hidden units of the head; 0 = linear")
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    loss: Literal["bce", "focal"] = "bce"
    focal_gamma: float = Field(2.0, ge=0.0)
    pos_weight: Literal["none", "sqrt"] = Field(
        "none", description="sqrt: weight each label's positives by sqrt(negatives/positives)")
    encoder_lr: float = Field(5e-5, gt=0.0, description="learning rate of the encoder (finetune)")
    max_length: int = Field(128, ge=8, description="tokens per text (finetune)")
    min_threshold_positives: int = Field(
        5, ge=1, description="labels with fewer dev positives use the global threshold")
    augment_to: int | None = Field(
        None, ge=1, description="grow the training split to this many texts with perturbed copies")
    dev_fraction: float = Field(0.1, gt=0.0, lt=1.0,
                                description="share of train held out when there is no dev split")
    trainer: TrainerConfig = TrainerConfig(epochs=200, batch_size=32, lr=1e-3, patience=10,
                                           monitor="macro_f1")

    @classmethod
    def for_mode(cls, mode: str, **overrides: object) -> ClassifierConfig:
        """Defaults that suit the mode: the fine-tuned encoder needs few epochs, small batches,
        warmup and a low learning rate, and rare labels weighted up (GoEmotions dev macro-F1
        0.552 with sqrt weights and 4 epochs vs 0.488 unweighted and 3); the head alone trains
        long at a high learning rate."""
        if mode != "finetune":
            return cls(mode=mode, **overrides)  # type: ignore[arg-type]
        trainer = TrainerConfig(epochs=4, batch_size=32, lr=1e-3, patience=2, monitor="macro_f1",
                                schedule="warmup_cosine", warmup_ratio=0.06, weight_decay=0.01)
        return cls(mode=mode, **{"trainer": trainer, "pos_weight": "sqrt", **overrides})  # type: ignore[arg-type]


FeatureGroup = Literal["scores", "terms", "title", "metadata", "feedback"]


class RankerFeatures(_Config):
    """Which features a learned ranker sees (search/features.py documents each)."""

    groups: list[FeatureGroup] = Field(default_factory=lambda: ["scores", "terms", "title",
                                                                "metadata", "feedback"])
    category_field: str = "category"
    quality_field: str = "quality"
    numeric_fields: list[str] = Field(
        default_factory=list, description="metadata fields used as numeric features")


class RankerConfig(_Config):
    """A learned ranker over the hybrid candidates: the neural graded ranker or LambdaMART."""

    kind: Literal["neural", "lambdamart"] = "neural"
    features: RankerFeatures = RankerFeatures()
    depth: int = Field(100, ge=1, description="candidates each retriever lists per query")
    hard_negatives: int | None = Field(
        None, ge=0, description="top-ranked non-relevant candidates per training list "
                                "(None = every candidate, as the ranker sees at search time)")
    random_negatives: int = Field(10, ge=0, description="random documents per training list")
    hidden: int = Field(128, ge=8)
    heads: int = Field(4, ge=1)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    embeddings: bool = Field(True, description="the neural ranker sees query/document embeddings")
    attention: bool = Field(True, description="candidates attend to the query and each other")
    loss_weights: dict[str, float] = Field(
        default_factory=lambda: {"approx_ndcg": 0.4, "listmle": 0.3, "bce": 0.3, "graded": 0.3},
        description="weights of the ranking losses (the note's 0.4/0.3/0.3, + graded CE)")
    validation_fraction: float = Field(0.1, gt=0.0, lt=1.0,
                                       description="train queries held out for early stopping, "
                                                   "fusion weights and the threshold")
    learned_fusion: bool = Field(True, description="mix ranker, dense and bm25 scores with "
                                                   "weights chosen on the validation queries")
    runtime: Literal["auto", "torch", "torch-int8", "onnx", "onnx-int8"] = Field(
        "auto", description="neural: what scores at search time (auto = torch on a GPU, onnx "
                            "otherwise: same scores, 3.7 vs 7.7 ms added per SciFact query); "
                            "the int8 ones quantize weights dynamically; stored weights stay fp32")
    trees: int = Field(500, ge=1, description="LambdaMART: most boosting rounds")
    leaves: int = Field(15, ge=2, description="LambdaMART: leaves per tree")
    bags: int = Field(
        5, ge=1, description="LambdaMART: boosters trained on folds of the training queries, each "
                             "early-stopped on the fold it left out; it scores with their mean, "
                             "and fusion weights and threshold are chosen on every training "
                             "query's out-of-fold score (1 = one booster and a validation carve)")
    seed: int = 0
    trainer: TrainerConfig = TrainerConfig(epochs=40, batch_size=16, lr=1e-3,
                                           weight_decay=0.01, patience=6, monitor="ndcg@10")


class ServeConfig(_Config):
    """Limits and access control of the HTTP service (`neurank serve`)."""

    max_body_bytes: int = Field(2_000_000, ge=1_024, description="larger request bodies get 413")
    max_query_chars: int = Field(2_000, ge=1)
    max_k: int = Field(100, ge=1, description="most hits / items one request may ask for")
    max_documents: int = Field(1_000, ge=1, description="most documents in one PUT /documents")
    max_filters: int = Field(16, ge=1)
    max_texts: int = Field(64, ge=1, description="most texts in one POST /classify")
    max_text_chars: int = Field(20_000, ge=1, description="longest text POST /classify accepts")
    api_key: str | None = Field(None, description="required in the X-API-Key header when set")
    rate_limit: float | None = Field(None, gt=0.0, description="requests per second per client")
    rate_burst: int = Field(20, ge=1, description="requests a client may send at once")
    workers: int = Field(2, ge=1, description="threads running searches and recommendations")
