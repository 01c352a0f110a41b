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
from convbench.stats import RatioEstimate, paired_ratio
from convbench.timing import Comparison, Session, Timing, benchmark, compare, time_session

__version__ = "0.1.0"

__all__ = [
    "Comparison",
    "RatioEstimate",
    "Session",
    "Timing",
    "benchmark",
    "compare",
    "paired_ratio",
    "time_session",
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
