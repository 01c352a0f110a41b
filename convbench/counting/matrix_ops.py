"""MACs of the matrix products ``torch.utils.flop_counter`` has no formula for: matrix-vector
(``mv``, ``addmv``), dot products (``dot``, ``vdot``), the int8 matrix product (``_int_mm``, which
torchao's int8 linear layers run) and ``_trilinear`` (what ``nn.Bilinear`` and ``F.bilinear`` call).

- ``mv(A, x)``, ``addmv(b, A, x)``: rows x columns of ``A``, one MAC per element of ``A``;
- ``dot(a, b)``, ``vdot(a, b)``: the vectors' length;
- ``_int_mm(A, B)``: ``m x k x n`` for ``A`` of ``m x k`` and ``B`` of ``k x n``, as ``mm``; these
  MACs are int8 ones too (``Cost.macs_int8``);
- ``_trilinear(i1, i2, i3, expand1, expand2, expand3, sumdim)``: the three inputs, each unsqueezed at
  its ``expand`` dims, are multiplied over their broadcast index space and summed over ``sumdim``:
  one MAC per point of that space. For ``nn.Bilinear(in1, in2, out)`` that is
  ``batch x out x in1 x in2``.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

__all__ = ["INT8_MATRIX_OPS", "MATRIX_MACS"]

aten = torch.ops.aten


def _matrix_vector(matrix: int) -> Callable:
    return lambda args, kwargs, out: args[matrix].numel()


def _dot(args, kwargs, out) -> int:
    return args[0].numel()


def _int_mm(args, kwargs, out) -> int:
    (m, k), n = args[0].shape, args[1].shape[1]
    return m * k * n


def _trilinear(args, kwargs, out) -> int:
    inputs, expands = args[:3], args[3:6]
    shapes = []
    for tensor, expand in zip(inputs, expands):
        shape = list(tensor.shape)
        for dim in sorted(expand):
            shape.insert(dim, 1)
        shapes.append(shape)
    return math.prod(max(sizes) for sizes in zip(*shapes))


MATRIX_MACS: dict[Any, Callable[..., int]] = {
    aten.mv: _matrix_vector(0), aten.addmv: _matrix_vector(1),
    aten.dot: _dot, aten.vdot: _dot,
    aten._int_mm: _int_mm, aten._trilinear: _trilinear,
}
INT8_MATRIX_OPS = frozenset({aten._int_mm})
