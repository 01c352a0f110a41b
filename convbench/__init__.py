"""convbench: benchmark convolution variants against plain convolution."""

from convbench import variants  # noqa: F401  (registers the built-in variants, in `convbench list` order)
from convbench.counting import Cost, LayerCost, count
from convbench.store.metadata import run_metadata
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
from convbench.timing import (Comparison, RatioEstimate, Session, Timing, TimingSettings, benchmark, compare,
                              paired_ratio, time_session)
from convbench.version import __version__

__all__ = [
    "__version__",
    "Comparison",
    "RatioEstimate",
    "Session",
    "Timing",
    "TimingSettings",
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
