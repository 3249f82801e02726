"""Multi-label text classification: data, training, thresholds, prediction."""

from neurank.classify.data import LabelledTexts, read_labelled, read_labelled_file
from neurank.classify.predictor import Classifier, Prediction
from neurank.classify.thresholds import Thresholds, tune_thresholds
from neurank.classify.train import TrainedClassifier, train_classifier

__all__ = ["Classifier", "LabelledTexts", "Prediction", "Thresholds", "TrainedClassifier",
           "read_labelled", "read_labelled_file", "train_classifier", "tune_thresholds"]
