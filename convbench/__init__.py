"""convbench: benchmark convolution variants against plain convolution."""

from convbench.cost import Cost, LayerCost, count
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

__version__ = "0.1.0"

__all__ = [
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
