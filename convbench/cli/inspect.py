"""``convbench list`` and ``convbench show``: the registered variants, and one variant's or
network's per-layer counts against the closed forms and the reference counters."""

from __future__ import annotations

import dataclasses

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from convbench.cli.app import main
from convbench.cli.common import (DEFAULT_SHAPE, BackendSpec, InputError, echo_json, new_console, parse_model,
                                  parse_params, parse_shape, variant_request)
from convbench.cli.show_timing import show_timing
from convbench.counting import ALL_REFERENCES, Cost, count
from convbench.present.formatting import si
from convbench.registry import build, example_inputs, get_variant, variant_names
from convbench.suite.cases import build_case
from convbench.plan.config import VariantRequest


@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def list_variants(as_json) -> None:
    """The registered variants: description, parameters with defaults, paper."""
    specs = [get_variant(name) for name in variant_names()]
    if as_json:
        echo_json([{"name": s.name, "aliases": list(s.aliases), "description": s.description,
                     "paper": s.paper, "notes": s.notes,
                     "params": [{"name": p.name, "default": p.default, "help": p.help,
                                 "choices": p.choices, "open_choice": p.open_choice} for p in s.params]}
                    for s in specs])
        return
    table = Table(title="convbench variants", show_lines=True)
    for column in ("variant", "description", "parameters (default)", "paper"):
        table.add_column(column)
    for spec in specs:
        params = "\n".join(f"{p.name}={p.default!r}" + (" (choice)" if p.open_choice else "") for p in spec.params)
        label = spec.name + "".join(f"\nalias: {a}" for a in spec.aliases)
        description = spec.description + (f"\n{spec.notes}" if spec.notes else "")
        table.add_row(label, description, params or "-", spec.paper)
    new_console().print(table)
    click.echo("(choice): the paper leaves this open; the default is convbench's pick.")


@main.command()
@click.argument("variant", required=False)
@click.option("--shape", default=DEFAULT_SHAPE, show_default=True, metavar="SPEC", help="The shape.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="A variant parameter.")
@click.option("--model", metavar="NAME", help="A whole network (its convs swapped for VARIANT, if given).")
@click.option("--input", "model_input", metavar="C,H,W", help="The network's input per image [3,224,224].")
@click.option("--training", is_flag=True, help="Count a training step too: its backward's MACs, and FlopCounterMode's.")
@click.option("--timing", is_flag=True,
              help="Where one call's time goes: per-op latency from the runtime's profiler beside each op's MACs.")
@click.option("--backend", "backend_names", multiple=True, type=BackendSpec(), metavar="NAME",
              help="With --timing: the runtime to profile (repeat for several) [eager].")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="With --timing: CPU threads.")
@click.option("--by-module", is_flag=True, help="With --timing: one row per module (eager, openvino).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def show(variant, shape, params, model, model_input, training, timing, backend_names, threads, by_module, as_json):
    """Per-layer breakdown of VARIANT (or of a network with --model), and its totals: formula vs
    counted vs ptflops vs torchsummary; with --timing, per-op latency on each runtime instead."""
    if (backend_names or threads != 1 or by_module) and not timing:
        raise InputError("show: --backend, --threads and --by-module go with --timing")
    if timing and training:
        raise InputError("show: --timing profiles inference; drop --training")
    if model:
        return _show_model(model, model_input, variant, parse_params(params), as_json, training,
                           (backend_names, threads, by_module) if timing else None)
    if not variant:
        raise InputError("show: name a VARIANT (see `convbench list`), or a network with --model")
    shape_ = parse_shape(shape)
    kwargs = parse_params(params)
    try:
        spec = get_variant(variant)
        module = build(spec.name, shape_.in_channels, shape_.out_channels, shape_.kernel_size,
                                 shape_.stride, **kwargs)
        inputs = example_inputs(spec.name, shape_.batch, shape_.in_channels, shape_.height,
                                          shape_.width, stride=shape_.stride, **kwargs)
        cost = count(module, *inputs, reference_counters=ALL_REFERENCES, backward=training, training=training,
                     input_grad=True)  # a layer inside a network
    except ValueError as error:
        raise InputError(str(error)) from None
    if timing:
        return show_timing(f"{spec.name} on {shape_.label}", module, inputs, backend_names, threads, by_module,
                           as_json)
    formula = spec.cost(shape_.in_channels, shape_.out_channels, shape_.kernel_size, shape_.stride,
                        shape_.height, shape_.width, **kwargs)
    if as_json:
        echo_json({"variant": spec.name, "shape": dataclasses.asdict(shape_), "cost": cost.as_dict(),
                    "formula": dataclasses.asdict(formula) if formula else None})
        return
    console = new_console()
    _layer_table(cost, f"{spec.name} on {shape_.label}: per layer, per image", console)
    totals = Table(title="totals per image: formula vs counters", title_justify="left")
    for column in ("source", "params", "MACs", *(("training step MACs",) if training else ())):
        totals.add_column(column, justify="left" if column == "source" else "right")

    def fmt(value):
        return "-" if value is None else f"{value:,}"

    def row(source, params_, macs, step=None):
        totals.add_row(source, params_, macs, *((fmt(step),) if training else ()))

    row("closed-form formula", fmt(formula and formula.params), fmt(formula and formula.macs),
        formula and formula.macs + formula.macs_backward)
    row("exact (aten dispatch)", fmt(cost.params), fmt(cost.macs), cost.macs_train_step)
    row("ptflops, pytorch backend", "-", fmt(cost.macs_ptflops))
    row("ptflops, aten backend", "-", fmt(cost.macs_ptflops_aten))
    row("torchsummary", fmt(cost.params_torchsummary), "-")
    if training:
        row("FlopCounterMode / 2", "-", "-", cost.macs_train_step_flop_counter)
    console.print(totals)
    console.print(f"kMAC/pixel: {cost.kmac_per_pixel:.4g} (MACs / 1000 / {cost.pixels} input pixels); "
                  f"FLOPs = 2 x MACs = {cost.flops:,}")
    console.print(f"check: {cost.check}", markup=False)
    _count_lines(cost, console)


def _number(value) -> str:
    return "failed" if value is None else f"{value:,}"


def _count_lines(cost: Cost, console: Console) -> None:
    """What the counts are per, and what makes them hold for this input only."""
    if cost.uncounted_ops:
        console.print(f"ops with no cost entry (counted as 0): {', '.join(cost.uncounted_ops)}", markup=False)
    if cost.macs_int8:
        console.print(f"{cost.macs_int8:,} of the MACs are int8 (quantized kernels)", markup=False)
    if cost.data_dependent_ops:
        console.print(f"MACs hold for this input only: it ran {', '.join(cost.data_dependent_ops)}", markup=False)


def _layer_table(cost: Cost, title: str, console: Console) -> None:
    """Per layer, its counts whole; where they cannot all be whole at the console's width, as 118M,
    3.21K and so on, and a line says so. Layer names give way first (cut with an ellipsis)."""
    names = ("calls", "params", "fixed weights", "MACs", "element ops", "bytes written")
    rows = [(row.name, row.type, (row.calls, row.params, row.fixed_weights, row.macs, row.elem_ops,
                                  row.activation_bytes)) for row in cost.layers]
    rows.append(("total", "", (None, cost.params, cost.fixed_weights, cost.macs, cost.elem_ops, cost.activation_bytes)))

    def table(number) -> Table | None:
        """The table with ``number`` formatting, or None if its numbers cannot all fit."""
        cells = [[("" if v is None else number(v)) for v in values] for _, _, values in rows]
        widths = [max(max(map(len, name.split())), *(len(c[i]) for c in cells)) for i, name in enumerate(names)]
        room = console.width - sum(widths) - 3 * (len(names) + 2) - 1  # what the layer and type columns may have
        if room < 10:
            return None
        text_widths = [max(len(str(row[i])) for row in rows) for i in (0, 1)]
        layer = min(text_widths[0], max(6, room - min(text_widths[1], room // 3)))
        layers = Table(title=Text(title), title_justify="left")
        layers.add_column("layer", overflow="ellipsis", no_wrap=True, width=layer)
        layers.add_column("type", overflow="ellipsis", no_wrap=True, width=min(text_widths[1], room - layer) or 4)
        for name, width in zip(names, widths):
            layers.add_column(name, justify="right", width=width)  # the heading may wrap, a number never
        for i, ((name, kind, _), cell) in enumerate(zip(rows, cells)):
            layers.add_row(Text(name), Text(kind), *cell, style="bold" if i == len(rows) - 1 else None)
        return layers

    whole = table(lambda value: f"{value:,}")
    if whole is not None:
        console.print(whole)
        return
    short = table(si)
    if short is None:
        console.print(f"(the per-layer table needs more than {console.width} columns: widen the terminal, set "
                      "COLUMNS, or use --json)", markup=False, highlight=False)
        return
    console.print(short)
    console.print(f"(counts shortened to K / M / G to fit {console.width} columns; a wider terminal, COLUMNS, or "
                  "--json gives them whole)", markup=False, highlight=False)


def _show_model(name: str, model_input: str | None, variant: str | None, params: dict, as_json: bool,
                training: bool = False, timing: tuple | None = None) -> None:
    workload = parse_model(name, model_input)
    request = variant_request(variant) if variant else VariantRequest("conv")
    if params:
        request = VariantRequest(request.name, tuple({**dict(request.params), **params}.items()))
    swaps: dict = {}
    try:
        module, inputs = build_case(workload, request, swaps)
        if timing:
            title = workload.label + (f", convs swapped for {request.label}" if variant else "")
            return show_timing(title, module, inputs, *timing, as_json)
        cost = count(module, *inputs, reference_counters=ALL_REFERENCES, backward=training, training=training,
                     input_grad=False)
    except ValueError as error:
        raise InputError(str(error)) from None
    if as_json:
        echo_json({"model": workload.label, "variant": request.label, **swaps, "cost": cost.as_dict()})
        return
    console = new_console()
    title = f"{workload.label}" + (f", convs swapped for {request.label}" if variant else "")
    _layer_table(cost, f"{title}: per layer, per {cost.per}", console)
    if swaps.get("convs_replaced") is not None and variant:
        kept = f"; kept {swaps['convs_kept']} ({swaps['convs_kept_why']})" if swaps.get("convs_kept") else ""
        console.print(f"replaced {swaps['convs_replaced']} convs{kept}", markup=False)
    per_pixel = f"kMAC/pixel {cost.kmac_per_pixel:.4g}; " if cost.kmac_per_pixel is not None else ""
    console.print(f"params {cost.params:,}; MACs {cost.macs:,} per {cost.per} (FLOPs = 2 x MACs); {per_pixel}"
                  f"ptflops {cost.macs_ptflops}; check: {cost.check}", markup=False)
    if training:
        console.print(f"training step: {cost.macs_train_step:,} MACs per {cost.per} (forward {cost.macs:,} + backward "
                      f"{cost.macs_backward:,}); FlopCounterMode / 2: {_number(cost.macs_train_step_flop_counter)}",
                      markup=False)
    where = "unbatched" if cost.batch_dim is None else f"batch of {cost.batch} at dim {cost.batch_dim}"
    console.print(f"counted per {cost.per}: {where} ({cost.batch_source})", markup=False)
    _count_lines(cost, console)
