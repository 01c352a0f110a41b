"""Memory beside compute, per shape: what a call moves (the memory access cost ShuffleNet V2
argues by, counted), the most its own tensors hold at once (counted), what the training step keeps
for its backward (counted), and the peak the allocator saw (measured), next to MACs and MACs per
byte moved (the roofline plot's axis)."""

from __future__ import annotations

import pandas as pd

from convbench.present.escaping import markdown_text
from convbench.present.formatting import missing, si, significant

__all__ = ["memory_tables"]

COLUMNS = [("label", "Variant"), ("macs", "MACs"), ("bytes_moved", "bytes moved"),
           ("arithmetic_intensity", "MACs / byte"), ("activation_memory_bytes", "activations (B)"),
           ("saved_for_backward_bytes", "saved for backward (B)"), ("peak_memory_bytes", "peak measured (B)")]


def memory_tables(df: pd.DataFrame, level: str = "###") -> str:
    """A Markdown table per shape of the timed rows, with what each figure is under it."""
    out = []
    for shape, rows in df.groupby("shape", sort=False):
        present = [(key, name) for key, name in COLUMNS if key in rows and rows[key].notna().any()]
        out += [f"{level} Memory: {markdown_text(shape)}", "", "| " + " | ".join(name for _, name in present) + " |",
                "|" + "|".join("---" if key == "label" else "---:" for key, _ in present) + "|"]
        for row in rows.to_dict("records"):
            out.append("| " + " | ".join(_cell(row, key) for key, _ in present) + " |")
        out += ["", "MACs and bytes moved per sample, in the forward; memory per call on the whole batch. bytes "
                "moved: every op's inputs, weights and outputs, counted; activations: the most the call's own "
                "tensors held at once (in training, over the step), counted; saved "
                "for backward: what a training step keeps from its forward, counted; peak measured: the most "
                "PyTorch's allocator held beyond weights and inputs during one call (kernels' workspace included; "
                "torch.profiler on the CPU, the caching allocator on CUDA).", ""]
    return "\n".join(out)


def _cell(row: dict, key: str) -> str:
    value = row.get(key)
    if key == "label":
        return markdown_text(str(value))
    if missing(value):
        return ""
    return significant(value) if key == "arithmetic_intensity" else si(value)
