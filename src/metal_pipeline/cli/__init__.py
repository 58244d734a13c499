"""The project's command-line tools (measurements of the model, not part of any pipeline).

    python -m metal_pipeline.cli.param_count   parameter counts against the paper's Table 6
    python -m metal_pipeline.cli.leak          how much a square's own pixels reach its reconstruction
    python -m metal_pipeline.cli.merge_tables  one table from the per-run CSVs of several table commands

Kedro imports ``<package>.cli`` of a project for project commands and needs a
click group named ``cli`` in it, so the same tools are also ``kedro
param-count``, ``kedro leak`` and ``kedro merge-tables`` (arguments passed on unchanged, ``--help``
included). Every ``kedro`` command imports this module: it imports click only,
the tools load torch when they run.
"""

from __future__ import annotations

import importlib

import click

_TOOLS = {
    "param-count": ("metal_pipeline.cli.param_count", "MeTAL parameter counts vs. the paper's Table 6."),
    "leak": ("metal_pipeline.cli.leak", "Identity leak of the MeTAL masking modes (docs/MODEL.md)."),
    "merge-tables": ("metal_pipeline.cli.merge_tables",
                     "One Table 3/4/5 from the per-run CSVs of several commands (seeds run apart)."),
}


@click.group(name="metal_pipeline")
def cli() -> None:
    """Project tools of metal_pipeline."""


def _add_tool(name: str, module: str, summary: str) -> None:
    @cli.command(name=name, help=f"{summary} Options: kedro {name} --help.", add_help_option=False,
                 context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    @click.pass_context
    def run_tool(ctx: click.Context) -> None:
        raise SystemExit(importlib.import_module(module).main(list(ctx.args)))


for _name, (_module, _summary) in _TOOLS.items():
    _add_tool(_name, _module, _summary)
