"""``python -m simapi_async.testing``: run the emulator standalone (see `run_cli`)."""

import sys

from ._cli import run_cli

if __name__ == "__main__":
    sys.exit(run_cli())
