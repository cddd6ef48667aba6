"""``python -m simapi_async.cli``: the `simapi` command."""

from . import main

if __name__ == "__main__":
    main()
