"""Build hook: compiles `simapi_async/_cmodels.c` when a C compiler is there.

The extension is optional (`simapi_async/_rows.py` runs the same steps in Python
without it), so a missing compiler, missing Python headers or a failed compile print a
warning and the build goes on, pure Python. ``SIMAPI_NO_EXTENSIONS=1`` skips it.

- A wheel gets the compiled module and a platform tag.
- An editable install (``pip install -e .``) gets it next to the sources, where the
  editable install imports the package from (``simapi_async/_cmodels.*.so``, ignored by
  git), rebuilt by every ``pip install -e``.
- ``python3 hatch_build.py`` builds it in place by hand (after editing the C file).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # run as a script, without hatchling
    BuildHookInterface = object  # type: ignore[assignment,misc]

SOURCE = Path("simapi_async") / "_cmodels.c"
MODULE = "simapi_async/_cmodels"


def target_name() -> str:
    """The extension's file name in the package: ``_cmodels.cpython-311-x86_64-linux-gnu.so``."""
    return MODULE + (sysconfig.get_config_var("EXT_SUFFIX") or ".so")


def compile_extension(root: Path, out: Path) -> str | None:
    """Compile the extension to `out`; None when done, else why not (a warning)."""
    if os.environ.get("SIMAPI_NO_EXTENSIONS"):
        return "SIMAPI_NO_EXTENSIONS is set"
    if sys.implementation.name != "cpython":
        return f"not CPython ({sys.implementation.name})"
    ldshared = sysconfig.get_config_var("LDSHARED")
    include = sysconfig.get_paths().get("include")
    if not ldshared or not include or not (Path(include) / "Python.h").exists():
        return "no C toolchain configuration or Python headers (python3-dev)"
    command = [*shlex.split(ldshared), *shlex.split(sysconfig.get_config_var("CCSHARED") or ""),
               "-O2", "-I", include, str(root / SOURCE), "-o", str(out)]
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300,  # noqa: S603
                              check=False)  # our own compiler command, no shell
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{command[0]} could not run ({exc})"
    if done.returncode != 0:
        return f"{shlex.join(command)} failed:\n{done.stderr.strip()[-2000:]}"
    return None


def _warn(why: str) -> None:
    print(f"simapi_async: the compiled models (_cmodels) are not built: {why}; "
          "the package runs the same steps in Python", file=sys.stderr)


class CustomBuildHook(BuildHookInterface):  # type: ignore[misc,valid-type]
    """hatchling's hook: the extension into the wheel, or next to the sources."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        if version == "editable":
            why = compile_extension(root, root / target_name())
            if why is not None:
                _warn(why)
            return
        self._build_dir = tempfile.mkdtemp(prefix="simapi-build-")  # removed in finalize
        built = Path(self._build_dir) / target_name()
        why = compile_extension(root, built)
        if why is not None:
            _warn(why)
            return
        build_data["force_include"][str(built)] = target_name()
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        """The wheel holds its copy of the module now: the temporary build goes."""
        build_dir = getattr(self, "_build_dir", None)
        if build_dir is not None:
            shutil.rmtree(build_dir, ignore_errors=True)
            self._build_dir = None


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    why = compile_extension(here, here / target_name())
    if why is not None:
        sys.exit(f"not built: {why}")
    print(f"built {target_name()}")
