"""Every package folder of the source tree is installed: a plain (non-editable) install takes only the packages
``[tool.setuptools] packages`` lists, so a new subpackage missing there would be absent for users."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_for_install():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = set()
    for name, folder in cfg["package-dir"].items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                continue
            sub = ".".join([name, *rel.parts]) if rel.parts else name
            if not any(sub == other or sub.startswith(other + ".") for other in cfg["package-dir"] if other != name
                       and other.startswith(name + ".")):
                found.add(sub)
    assert sorted(found - listed) == [], "add these packages to [tool.setuptools] packages in pyproject.toml"
    assert sorted(listed - found) == [], "these listed packages have no folder with an __init__.py"
