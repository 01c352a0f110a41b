"""The command line a run records, so that it can be run again as it was: read back from what
Click parsed, each option under its long name, every word quoted for a POSIX shell."""

from __future__ import annotations

import shlex

import click

ARGS = "convbench.args"  # where a recorded command keeps the words it was given


class RecordedCommand(click.Command):
    """A command that keeps the words it was given, for :func:`command_line`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[ARGS] = list(args)
        return super().parse_args(ctx, args)


def command_line(ctx: click.Context | None = None) -> str:
    """``convbench COMMAND ARGUMENTS OPTIONS`` as the current command was called; options in the
    order given, under their long names (``-h`` style aliases spelled out)."""
    ctx = ctx or click.get_current_context()
    opts, _, order = ctx.command.make_parser(ctx).parse_args(list(ctx.meta.get(ARGS, [])))
    arguments, options, seen = [], [], set()
    for param in order:
        if param.name in seen or param.name not in opts:
            continue
        seen.add(param.name)
        value = opts[param.name]
        if isinstance(param, click.Argument):
            arguments += [str(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
            continue
        flag = next((name for name in param.opts if name.startswith("--")), param.opts[0])
        if param.is_flag:
            options += [flag] if value else []
            continue
        for item in value if param.multiple else [value]:
            options += [flag, str(item)]
    return shlex.join(["convbench", ctx.info_name, *arguments, *options])
