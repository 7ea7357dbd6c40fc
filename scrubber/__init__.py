"""The claim scrubber.

Some of its modules are compiled with mypyc when the package is installed (setup.py). An editable
install leaves each compiled module beside its source, and Python imports the compiled one: a source
edited since would silently not run, so a checkout whose compiled module is older than its source
refuses to import it until the package is installed again.
"""
from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def stale_compiled_modules(package: Path = _HERE) -> list[str]:
    """The sources of `package` edited after they were compiled in place (an editable install in a checkout;
    an installed wheel has no checkout around it, and is never stale)."""
    if not (package.parent / "pyproject.toml").is_file():
        return []
    stale = []
    for compiled in package.rglob("*.so"):
        source = compiled.with_name(compiled.name.split(".", 1)[0] + ".py")
        if source.is_file() and source.stat().st_mtime > compiled.stat().st_mtime:
            stale.append(str(source.relative_to(package.parent)))
    return sorted(stale)


if _stale := stale_compiled_modules():
    raise ImportError(f"{', '.join(_stale)} changed after it was compiled: Python would run the old compiled "
                      "module. Install the package again (pip install -e .) to compile it, or with "
                      "SCRUBBER_COMPILE=0 pip install -e . to run it as plain Python")
