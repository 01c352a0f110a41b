"""A models entry's ``input:``: the shapes, dtypes, names and batch dimensions of what a network is
fed (see :mod:`convbench.models.inputs`).

- ``[3, 224, 224]``: one float input per image, the batch first (the default ``[3, size, size]``);
- ``[[3, 224, 224], [1, 224, 224]]``: several, passed by position;
- ``[{shape: [128], dtype: int64, high: 30000}]``: an input with a dtype (token ids in
  ``[0, high)``), or a ``batch_dim`` (1 for a sequence-first ``(L, N, E)`` input);
- ``{src: {shape: [50, 32], batch_dim: 1}, src_key_padding_mask: {shape: [50], dtype: bool}}``:
  inputs passed by name, in this order.
"""

from __future__ import annotations

from convbench.models.inputs import DTYPES, InputSpec
from convbench.plan.located import ConfigDocument, check_keys, expect_choice, expect_int

SPEC_KEYS = ("shape", "dtype", "batch_dim", "high")

__all__ = ["parse_inputs"]


def parse_inputs(doc: ConfigDocument, path: tuple, value) -> tuple[tuple[tuple[int, ...], ...], tuple[InputSpec, ...]]:
    """The per-sample shapes, and the specs when any input says more than its shape (else ())."""
    if isinstance(value, dict):
        if not value:
            raise doc.error(path, "must name at least one input, e.g. {x: [3, 224, 224]}")
        specs = tuple(_spec(doc, path + (name,), item, _keyword(doc, path, name)) for name, item in value.items())
        return tuple(spec.shape for spec in specs), specs
    several = isinstance(value, list) and value and all(isinstance(v, (list, dict)) for v in value)
    items = value if several else [value]
    specs = tuple(_spec(doc, path + ((i,) if several else ()), item, None) for i, item in enumerate(items))
    plain = all(isinstance(item, list) for item in items)
    return tuple(spec.shape for spec in specs), (() if plain else specs)


def _keyword(doc: ConfigDocument, path: tuple, name) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise doc.error(path + (name,), f"an input's name must be a Python identifier (a keyword of forward), "
                                        f"got {name!r}")
    return name


def _spec(doc: ConfigDocument, path: tuple, item, name: str | None) -> InputSpec:
    if isinstance(item, list):
        return InputSpec(_shape(doc, path, item), name=name)
    if not isinstance(item, dict):
        raise doc.error(path, f"must be a shape per sample such as [3, 224, 224], or {{shape: ..., dtype: ...}}, "
                              f"got {item!r}")
    check_keys(doc, path, item, SPEC_KEYS)
    if "shape" not in item:
        raise doc.error(path, "needs 'shape', the size of one sample, e.g. {shape: [128], dtype: int64, high: 1000}")
    shape = _shape(doc, path + ("shape",), item["shape"])
    dtype = expect_choice(doc, path + ("dtype",), item.get("dtype", "float32"), tuple(DTYPES))
    batch_dim = expect_int(doc, path + ("batch_dim",), item.get("batch_dim", 0), minimum=0)
    if batch_dim > len(shape):
        raise doc.error(path + ("batch_dim",), f"must be 0..{len(shape)} for a {len(shape)}-D sample, got {batch_dim}")
    high = None
    integer = not DTYPES[dtype].is_floating_point and dtype != "bool"
    if integer:
        if "high" not in item:
            raise doc.error(path, f"an {dtype} input needs 'high': its values are drawn from [0, high)")
        high = expect_int(doc, path + ("high",), item["high"])
    elif "high" in item:
        raise doc.error(path + ("high",), f"only integer inputs take 'high', not {dtype}")
    return InputSpec(shape, dtype, batch_dim, high, name)


def _shape(doc: ConfigDocument, path: tuple, shape) -> tuple[int, ...]:
    if not isinstance(shape, list) or not shape:
        raise doc.error(path, f"must be a shape per sample such as [3, 224, 224], got {shape!r}")
    return tuple(expect_int(doc, path + (j,), v) for j, v in enumerate(shape))
