"""Training, saving, loading and evaluating classifiers (tiny random encoder, small data)."""

import json

import numpy as np
import pytest

from neurank.classify import Classifier, read_labelled, train_classifier
from neurank.classify.data import LabelledTexts
from neurank.classify.evaluation import evaluation_report
from neurank.config import ClassifierConfig
from neurank.errors import CheckpointError


def config_for(mode: str, base, **trainer) -> ClassifierConfig:
    config = ClassifierConfig.for_mode(mode, base=str(base), encoder="torch")
    config.trainer = config.trainer.model_copy(update={"show_progress": False, **trainer})
    return config


def test_frozen_head_learns_separable_labels_and_tunes_thresholds(tmp_path, tiny_model_dir):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))

    def split(count):
        labels = [sorted(set(rng.choice(["a", "b", "c"], size=int(rng.integers(1, 3)))))
                  for _ in range(count)]
        vectors = np.stack([sum(centres["abc".index(x)] for x in ls) for ls in labels])
        vectors = vectors + rng.normal(scale=0.3, size=vectors.shape)
        return LabelledTexts([f"t{i}" for i in range(count)], labels, "synthetic"), vectors

    (train, train_x), (dev, dev_x) = split(300), split(100)
    result = train_classifier(train, dev, config_for("frozen", tiny_model_dir, epochs=40),
                              tmp_path / "clf", embeddings=(train_x, dev_x))
    assert result.dev_metrics["macro_f1"] > 0.95, result.history[-1]
    assert set(result.thresholds.values) == {"a", "b", "c"}
    manifest = json.loads((tmp_path / "clf" / "manifest.json").read_text())
    assert manifest["kind"] == "classifier" and manifest["labels"] == ["a", "b", "c"]
    assert manifest["best_epoch"] == result.history[int(np.argmax(
        [h["macro_f1"] for h in result.history]))]["epoch"]
    assert not (tmp_path / "clf.training").exists()  # resumable epochs removed after saving


@pytest.mark.parametrize("mode", ["frozen", "finetune"])
def test_saved_classifier_reproduces_its_dev_figures(tmp_path, tiny_model_dir, labelled_dir,
                                                     mode):
    train = read_labelled(labelled_dir, "train")
    dev = read_labelled(labelled_dir, "dev")
    epochs = 3 if mode == "finetune" else 100
    result = train_classifier(train, dev, config_for(mode, tiny_model_dir, epochs=epochs),
                              tmp_path / "clf")
    classifier = Classifier(tmp_path / "clf", encoder="torch")
    report = evaluation_report(classifier, dev, dataset="labelled", split="dev")
    # the loaded model at its stored thresholds scores dev exactly as training measured it
    assert report["metrics"]["macro_f1"] == pytest.approx(result.dev_metrics["macro_f1"])
    assert report["metrics"]["micro_f1"] == pytest.approx(result.dev_metrics["micro_f1"])
    if mode == "finetune":
        manifest = json.loads((tmp_path / "clf" / "manifest.json").read_text())
        assert "encoder/modules.json" in manifest["files"]
        onnx = Classifier(tmp_path / "clf", encoder="onnx")
        assert onnx.encoder.backend == "onnx"
        texts = dev.texts[:20]
        np.testing.assert_allclose(onnx.probabilities(texts), classifier.probabilities(texts),
                                   atol=0.05)


@pytest.fixture(scope="module")
def finetuned_dir(tmp_path_factory, tiny_model_dir, labelled_dir):
    folder = tmp_path_factory.mktemp("finetuned") / "clf"
    train_classifier(read_labelled(labelled_dir, "train"), None,
                     config_for("finetune", tiny_model_dir, epochs=1), folder)
    return folder


def test_a_checkpoint_serves_as_the_model_of_an_encoder(finetuned_dir, tiny_classifier_dir,
                                                       tmp_path):
    import shutil

    from neurank.encoders import SentenceEncoder, load_encoder

    texts = ["solar power output", "hospital admissions"]
    from_checkpoint = load_encoder(str(finetuned_dir), "torch")
    direct = SentenceEncoder(str(finetuned_dir / "encoder"))
    np.testing.assert_allclose(from_checkpoint.encode(texts), direct.encode(texts), atol=1e-6)
    with pytest.raises(CheckpointError, match="without an encoder/ folder"):
        load_encoder(str(tiny_classifier_dir), "torch")
    tampered = tmp_path / "tampered"
    shutil.copytree(finetuned_dir, tampered)
    weights = next((tampered / "encoder").glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"encoder/.*does not match its sha256"):
        Classifier(tampered, encoder="torch")
    with pytest.raises(CheckpointError, match=r"encoder/.*does not match its sha256"):
        load_encoder(str(tampered), "torch")


def test_cli_train_evaluate_predict(neurank, tmp_path, tiny_model_dir, labelled_dir):
    out = tmp_path / "clf"
    neurank("classify", "train", "--data", labelled_dir, "--out", out, "--base", tiny_model_dir,
            "--epochs", "5")
    neurank("classify", "evaluate", out, "--data", labelled_dir, "--split", "test",
            "--encoder", "torch", "--json", tmp_path / "report.json")
    report = json.loads((tmp_path / "report.json").read_text())
    assert (report["dataset"], report["split"]) == (labelled_dir.name, "test")
    assert {"macro_f1", "micro_f1"} <= set(report["metrics"])
    assert set(report["per_label"]) == set(report["thresholds"]) and len(report["thresholds"]) == 10
    texts = read_labelled(labelled_dir, "test").texts[:2]
    predictions = json.loads(neurank("classify", "predict", out, *texts, "--encoder", "torch",
                                     "--json").stdout)
    assert [p["text"] for p in predictions] == texts
    assert all(len(p["scores"]) == 10 for p in predictions)
    bad = neurank("classify", "train", "--data", labelled_dir, "--out", tmp_path / "x",
                  "--mode", "bogus", check=False)
    assert bad.returncode == 2 and "--mode must be frozen or finetune" in bad.stderr


def test_index_stores_predicted_labels_for_filters(neurank, tmp_path, tiny_model_dir,
                                                   tiny_classifier_dir, sample_dir):
    from neurank.classify import Classifier
    from neurank.data import read_corpus

    out = tmp_path / "coll"
    neurank("index", sample_dir, "--out", out, "--model", tiny_model_dir, "--encoder", "torch",
            "--classify", tiny_classifier_dir, "--classify-field", "topics")
    documents = read_corpus(sample_dir)
    predicted = Classifier(tiny_classifier_dir).predict([d.content for d in documents])
    label = next(p.labels[0] for p in predicted if p.labels)
    expected = sorted(d.id for d, p in zip(documents, predicted, strict=True) if label in p.labels)
    hits = json.loads(neurank("search", out, "data", "--mode", "bm25", "-k", "40", "--filter",
                              f"topics={label}", "--json").stdout)["hits"]
    matching = [h["id"] for h in hits]
    assert matching and set(matching) <= set(expected)
    assert all(label in h["metadata"]["topics"] for h in hits)
    clash = neurank("index", sample_dir, "--out", tmp_path / "c2", "--model", tiny_model_dir,
                    "--classify", tiny_classifier_dir, "--classify-field", "category", check=False)
    assert clash.returncode == 2 and "already has metadata field 'category'" in clash.stderr


def test_training_is_reproducible_for_a_seed(tmp_path, tiny_model_dir):
    from safetensors.numpy import load_file

    rng = np.random.default_rng(0)
    data = LabelledTexts([f"t{i}" for i in range(60)],
                         [[str(rng.choice(["a", "b"]))] for _ in range(60)], "synthetic")
    vectors = rng.normal(size=(60, 8)).astype(np.float32)
    weights = []
    for run in range(2):
        train_classifier(data, data, config_for("frozen", tiny_model_dir, epochs=2),
                         tmp_path / f"run{run}", embeddings=(vectors, vectors))
        weights.append(load_file(str(tmp_path / f"run{run}" / "weights.safetensors")))
    for name, tensor in weights[0].items():  # the head's initial weights are seeded too
        np.testing.assert_array_equal(tensor, weights[1][name])
