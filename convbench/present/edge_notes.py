"""What a reader of an ExecuTorch or int8 row should know beside its numbers: the ops XNNPACK did
not take, how the case was quantized, and how far its int8 output is from float32's."""

from __future__ import annotations

from convbench.present.formatting import missing, significant

LOW_SQNR_DB = 20.0  # below this an int8 output is too far from float32's to stand in for it


def edge_notes(row) -> list[str]:
    notes = []
    outside = row.get("ops_not_delegated")
    if not missing(outside) and int(outside) > 0:
        notes.append(f"XNNPACK took {int(row.get('delegated_ops') or 0)} ops; {int(outside)} ran on ExecuTorch's "
                     f"portable kernels: {row.get('ops_not_delegated_names')}")
    sqnr = row.get("quant_sqnr_db")
    if not missing(sqnr) and float(sqnr) < LOW_SQNR_DB:
        notes.append(f"int8 output {significant(sqnr, 3)} dB SQNR against float32 eager, under {LOW_SQNR_DB:g} dB: "
                     "its time is not a float32 layer's")
    return notes


def sqnr_text(value) -> str:
    """A quantization error as shown: dB, 3 significant digits."""
    return "" if missing(value) else significant(value, 3)
