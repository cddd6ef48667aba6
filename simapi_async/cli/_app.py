"""The `simapi` command group: every subcommand hangs off `cli`."""

from __future__ import annotations

import click

from .._version import __version__
from ._bulk import bulk
from ._cdr import cdr
from ._configure import configure
from ._demo import demo
from ._emulator import emulator
from ._sims import packets, sims

__all__ = ["cli"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="simapi")
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
