"""The `simapi` command group: every subcommand hangs off `cli`."""

from __future__ import annotations

import os

import click

from .. import _rows
from .._jsonstream import loads as _loads
from .._version import __version__
from ._bulk import bulk
from ._cdr import cdr
from ._configure import configure
from ._demo import demo
from ._emulator import emulator
from ._sims import packets, sims

__all__ = ["cli"]


def _speedups() -> str:
    """What `--version` says of the optional fast paths (a pure-Python install is slower,
    not different)."""
    if _rows.COMPILED:
        models = "compiled models"
    elif os.environ.get("SIMAPI_NO_EXTENSIONS"):
        models = "models in Python: SIMAPI_NO_EXTENSIONS"
    else:
        models = "models in Python: not compiled at install"
    json = "orjson" if _loads.__module__ == "orjson" else "stdlib json: no orjson"
    return f"{models}, {json}"


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="simapi",
                      message=f"%(prog)s %(version)s ({_speedups()})")
def cli() -> None:
    """Manage a fleet of M2M/IoT SIM cards from a terminal or from cron.

    Connection: SIMAPI_BASE_URL, and SIMAPI_LOGIN with SIMAPI_PASSWORD (or --login with
    --password-stdin), or SIMAPI_TOKEN; or a profile (`simapi configure`, then --profile
    NAME or SIMAPI_PROFILE). Start with `simapi demo`.

    Exit status: 0 success, 1 the API refused or some targets failed, 2 bad usage or
    configuration, 130 interrupted.
    """


cli.add_command(demo)
cli.add_command(sims)
cli.add_command(packets)
cli.add_command(bulk)
cli.add_command(cdr)
cli.add_command(emulator)
cli.add_command(configure)
