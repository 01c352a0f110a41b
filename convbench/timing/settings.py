"""How one module is prepared and read: the settings every timer, session and check shares.

One :class:`TimingSettings` is made from the keywords of :func:`convbench.benchmark` /
:func:`convbench.time_session` (or a suite's config) and handed down unchanged, so a setting is
named, defaulted and validated in one place.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from convbench import backends

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# A module's precision: a dtype it is cast to, or int8, which a runtime quantizes it to from float32.
PRECISIONS = (*DTYPES, "int8")
MEMORY_FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
CUDA_TIMERS = ("events", "sync")


@dataclass(frozen=True)
class TimingSettings:
    """Where and how a module is called while it is timed.

    ``threads`` None means torch's current thread count; ``warmup_time`` is seconds of calls
    before the first reading; ``cold`` flushes the CUDA L2 cache before every reading;
    ``cuda_timer`` is ``events`` (CUDA events) or ``sync`` (synchronised wall clock); ``backend``
    the runtime (:mod:`convbench.backends`); ``tf32`` on CUDA sets
    ``torch.backends.cudnn.allow_tf32`` and ``torch.backends.cuda.matmul.allow_tf32`` while the
    module is read (None leaves torch's settings as they are). ``forward_alone`` (with
    ``training``) reads a training step's forward without its backward; ``input_grad`` False
    leaves the inputs without a gradient in training (a whole network's input needs none);
    ``optimizer`` (``sgd`` or ``adam``, with ``training``) ends each step with that optimizer's
    update and zeroed gradients (:data:`OPTIMIZERS`). ``dtype`` ``int8`` keeps the module and its
    inputs in float32 and has the backend quantize it (:func:`convbench.backends.prepare`).
    """

    device: str = "cpu"
    dtype: str = "float32"
    memory_format: str = "contiguous"
    training: bool = False
    threads: int | None = None
    warmup_time: float = 0.05
    cold: bool = False
    cuda_timer: str = "events"
    cudnn_benchmark: bool = True
    backend: str = "eager"
    tf32: bool | None = None
    forward_alone: bool = False
    input_grad: bool = True
    optimizer: str | None = None

    def __post_init__(self) -> None:
        if self.dtype not in PRECISIONS:
            raise ValueError(f"dtype={self.dtype!r} must be one of {', '.join(PRECISIONS)}")
        if self.dtype == "int8" and self.training:
            raise ValueError("dtype='int8' times post-training quantized inference; training=True needs a float dtype")
        if self.memory_format not in MEMORY_FORMATS:
            raise ValueError(f"memory_format={self.memory_format!r} must be one of {', '.join(MEMORY_FORMATS)}")
        if self.cuda_timer not in CUDA_TIMERS:
            raise ValueError(f"cuda_timer={self.cuda_timer!r} must be one of {', '.join(CUDA_TIMERS)}")
        if str(self.device).split(":")[0] not in ("cpu", "cuda"):
            raise ValueError(f"device={self.device!r} must be cpu or cuda (cuda:N for one of several GPUs)")
        threads = self.threads
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads={threads!r} must be a whole number >= 1 (or None for torch's current count)")
        backends.parse(self.backend)
        if self.tf32 not in (None, True, False):
            raise ValueError(f"tf32={self.tf32!r} must be true, false or None (torch's settings)")
        if self.optimizer is not None and (self.optimizer not in OPTIMIZERS or not self.training):
            raise ValueError(f"optimizer={self.optimizer!r} must be one of {', '.join(OPTIMIZERS)}, with training=True")
        if self.forward_alone and not self.training:
            raise ValueError("forward_alone=True times a training step's forward: it needs training=True")
        if self.training and not backends.runtime(self.backend).trains:
            raise ValueError(f"backend={self.backend!r} times inference only; training=True needs backend='eager'")

    @property
    def tensor_dtype(self) -> torch.dtype:
        """What the module and its inputs are cast to: the dtype, or float32 for int8."""
        return DTYPES.get(self.dtype, torch.float32)

    def on(self, backend: str) -> TimingSettings:
        """The same settings on another runtime."""
        return dataclasses.replace(self, backend=backend)

    def forward_of_step(self) -> TimingSettings:
        """The same training settings, reading the step's forward alone (it builds the graph the
        backward would use, as in the step, and drops it)."""
        return dataclasses.replace(self, forward_alone=True)


# The optimizer steps a training step can end with: what each is, in words (the case names it).
OPTIMIZERS = {"sgd": "SGD, lr 0.01, momentum 0.9", "adam": "Adam, lr 0.001"}


def tf32_flags(tf32: bool | None) -> dict:
    """The TF32 flags a CUDA reading runs under: ``tf32`` for both, or torch's as they are (None)."""
    return {"cudnn_allow_tf32": torch.backends.cudnn.allow_tf32 if tf32 is None else tf32,
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32 if tf32 is None else tf32}
