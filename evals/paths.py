"""Where the eval data lives: the bundled folder inside the package, and the shared development folder.

Data whose licence allows it ships under ``logreasoner/evals/data`` (see ``data/README.md``). Data without a
licence (LogEval, the LogPrompt BGL templates) is never bundled: it is read by path from the shared data folder,
``$LOGREASONER_SHARED_DATA`` or else ``../shared/data`` next to the repository checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

from logreasoner.errors import InputError

__all__ = ["bundled_data_dir", "shared_data_dir", "shared_file", "SHARED_ENV"]

SHARED_ENV = "LOGREASONER_SHARED_DATA"


def bundled_data_dir() -> Path:
    """The package's own data folder (Loghub-2k, LogLM, a LogInstruct subset, with their licences)."""
    return Path(__file__).resolve().parent / "data"


def _candidates() -> list[Path]:
    env = os.environ.get(SHARED_ENV)
    if env:
        return [Path(env).expanduser()]
    here = Path(__file__).resolve()
    # evals/ sits at the repository root: <repo>/evals/paths.py -> <repo>/../shared/data
    out = [here.parent.parent.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    return list(dict.fromkeys(out))


def shared_data_dir(required: bool = True) -> Path | None:
    """The shared (non-bundled) data folder, or None / an error when it cannot be found."""
    for c in _candidates():
        if c.is_dir():
            return c
    if not required:
        return None
    tried = ", ".join(str(c) for c in _candidates())
    raise InputError(
        f"the shared data folder was not found (tried {tried})",
        f"set {SHARED_ENV}=/path/to/shared/data; this data has no licence to be shipped, so it is read by path",
    )


def shared_file(relative: str) -> Path:
    """A file under the shared data folder; a clear error when it is missing."""
    root = shared_data_dir()
    path = root / relative
    if not path.is_file():
        raise InputError(
            f"{relative} is not in the shared data folder {root}",
            f"put the file there or point {SHARED_ENV} at a folder that holds it",
        )
    return path
