"""Counting: params, MACs, element ops and bytes of a module, exactly (a dispatch-mode tally with
an op table) and as ptflops and torchsummary report them."""

from convbench.counting.cost import ALL_REFERENCES, Cost, LayerCost, count

__all__ = ["ALL_REFERENCES", "Cost", "LayerCost", "count"]
