"""convbench: benchmark convolution variants against plain convolution."""

from convbench.cost import Cost, LayerCost, count
from convbench.metadata import run_metadata
from convbench.models import build_model, model_names
from convbench.registry import (
    FormulaCost,
    LayerShape,
    Param,
    VariantSpec,
    build,
    example_inputs,
    get_variant,
    register_variant,
    unregister_variant,
    variant_names,
)
from convbench.swap import conv_filter, swap
from convbench.timing import Comparison, Timing, benchmark, compare

__version__ = "0.1.0"

__all__ = [
    "Comparison",
    "Timing",
    "benchmark",
    "compare",
    "run_metadata",
    "build_model",
    "model_names",
    "swap",
    "conv_filter",
    "Cost",
    "LayerCost",
    "count",
    "FormulaCost",
    "LayerShape",
    "Param",
    "VariantSpec",
    "build",
    "example_inputs",
    "get_variant",
    "register_variant",
    "unregister_variant",
    "variant_names",
]
