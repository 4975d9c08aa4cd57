"""Analysis of models: per-layer summaries (shapes, parameters, FLOPs, receptive fields) (evaluation/ holds the metrics of trained models)."""

from cnnlab.analysis.field_tracker import GLOBAL, UNKNOWN, FieldTracker, Reach
from cnnlab.analysis.flops import FlopCounter
from cnnlab.analysis.summary import LayerRow, Summary, Totals, summarize, summarize_model, summarize_run

__all__ = [
    "GLOBAL",
    "UNKNOWN",
    "FieldTracker",
    "FlopCounter",
    "LayerRow",
    "Reach",
    "Summary",
    "Totals",
    "summarize",
    "summarize_model",
    "summarize_run",
]
