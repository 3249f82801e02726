"""Metrics, protocols and reports; pure numpy."""

from neurank.eval.metrics import METRIC_NAMES, evaluate_run, parse_metric

__all__ = ["METRIC_NAMES", "evaluate_run", "parse_metric"]
