"""Runtimes that score the neural ranker's padded batches: torch (fp32), torch with int8 dynamic
quantization, ONNX Runtime (fp32) and ONNX Runtime with int8 dynamic quantization.

The stored weights are always the fp32 ones; a runtime is built from them when first used, so
the choice can be changed without retraining.
"""

from __future__ import annotations

import copy
import io
import logging
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from neurank.models.ranker import GradedRanker

ScoreFn = Callable[[dict[str, torch.Tensor]], np.ndarray]
INPUTS = ("query", "docs", "features", "mask")
OPSET = 17


class _Score(torch.nn.Module):
    def __init__(self, model: GradedRanker) -> None:
        super().__init__()
        self.model = model

    def forward(self, query: torch.Tensor, docs: torch.Tensor, features: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        return self.model(query, docs, features, mask)["score"]


def onnx_model(model: GradedRanker, *, int8: bool) -> bytes:
    """The ranker's score as an ONNX graph (batch and list length dynamic), optionally with
    int8 dynamically quantized weights."""
    model = copy.deepcopy(model).cpu().eval()
    dim, num_features = model.init_args["dim"], model.init_args["num_features"]
    sample = (torch.zeros(1, dim), torch.zeros(1, 3, dim), torch.zeros(1, 3, num_features),
              torch.ones(1, 3, dtype=torch.bool))
    axes = {"query": {0: "batch"}, "score": {0: "batch", 1: "candidates"},
            **{name: {0: "batch", 1: "candidates"} for name in INPUTS[1:]}}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the wrapper is put in eval mode too: export restores the mode of what it was given
        torch.onnx.export(_Score(model).eval(), sample, buffer, input_names=list(INPUTS),
                          output_names=["score"], dynamic_axes=axes, opset_version=OPSET,
                          dynamo=False)
    if not int8:
        return buffer.getvalue()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        source.write_bytes(buffer.getvalue())
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # its "consider pre-processing" advice is for CNNs
        try:
            quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)
        return target.read_bytes()


def torch_int8(model: GradedRanker) -> torch.nn.Module:
    """An int8 copy: Linear weights quantized, activations quantized on the fly (CPU); the
    attention's own projections stay float (torch does not quantize them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao is deprecated but works in 2.13
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model).cpu().eval(),
                                                      {torch.nn.Linear}, dtype=torch.qint8)


def make_runtime(model: GradedRanker, runtime: str) -> tuple[ScoreFn, int]:
    """(score function over a padded batch, size in bytes of what it runs)."""
    if runtime == "auto":
        runtime = "torch" if torch.cuda.is_available() else "onnx"
    if runtime in ("onnx", "onnx-int8"):
        import onnxruntime

        graph = onnx_model(model, int8=runtime == "onnx-int8")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # one query's list is small; servers run several
        session = onnxruntime.InferenceSession(graph, options,
                                               providers=["CPUExecutionProvider"])
        # the export drops inputs the graph does not read (`mask` without attention)
        names = [i.name for i in session.get_inputs()]
        return (lambda batch: session.run(["score"], {n: batch[n].cpu().numpy()
                                                       for n in names})[0]), len(graph)
    module = torch_int8(model) if runtime == "torch-int8" else model
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)

    def score(batch: dict[str, torch.Tensor]) -> np.ndarray:
        with torch.inference_mode():
            device = (torch.device("cpu") if runtime == "torch-int8"  # the model may have moved
                      else next(model.parameters()).device)
            inputs = [batch[n].to(device) for n in INPUTS]
            return module(*inputs)["score"].float().cpu().numpy()
    return score, len(buffer.getvalue())
