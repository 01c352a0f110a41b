"""Eager PyTorch: the module called as it is, under ``torch.inference_mode`` for inference; the
runtime every other one is held against, and the only one that times training steps."""

from __future__ import annotations

import torch

from convbench.backends.runtime import Runtime


class EagerRuntime(Runtime):
    name = "eager"
    short_name = "eager"
    trains = True
    torch_allocates = True

    def version(self) -> str:
        return f"eager PyTorch {torch.__version__}"

    def settings(self, threads: int) -> dict:
        return {"threads": threads, "grad": "torch.inference_mode"}

    def prepare_float(self, model, inputs, threads, device):
        def call():
            return model(*inputs)

        call.input_pointers = lambda: [t.data_ptr() for t in inputs]
        return call

    def profile(self, model, inputs, threads, device, calls=20, warmup=3):
        from convbench.backends.torch_profiling import profile_eager

        return profile_eager(model, inputs, threads, device, calls, warmup)

    def timing_method(self, is_cuda, device, cuda_method):
        return cuda_method if is_cuda else "torch.utils.benchmark"
