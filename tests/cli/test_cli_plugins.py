"""Sub-apps of the other packages on the main CLI: mounted when importable; otherwise still listed, and running
one says why in one line: the extra to install, or the module and its error."""

from __future__ import annotations

import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import logreasoner.cli.main as cli_main
from logreasoner.cli.plugins import MODULE_EXTRAS, SUB_APPS, SubApp, SubAppLoadError, mount_sub_apps

ROOT = Path(__file__).resolve().parents[2]


def _root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str, attr: str = "app") -> typer.Typer:
    """A CLI with one sub-app: module ``name`` written from ``source``."""
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    root = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)

    @root.command("other")
    def other() -> None:
        """Another command."""

    mount_sub_apps(root, (SubApp("plug", name, attr, help="A plugged-in group."),))
    return root


def _help_listing(root: typer.Typer) -> str:
    """``--help`` of the root, wide enough that no command's help is cut."""
    r = CliRunner().invoke(root, ["--help"], env={"COLUMNS": "400"})
    assert r.exit_code == 0
    return " ".join(r.output.split())


def _run_main(monkeypatch, capsys, root: typer.Typer, *argv: str) -> tuple[int, str]:
    monkeypatch.setattr(cli_main, "app", root)
    with pytest.raises(SystemExit) as e:
        cli_main.main(list(argv))
    return e.value.code, capsys.readouterr().err


def test_an_importable_sub_app_is_mounted(tmp_path, monkeypatch):
    root = _root(tmp_path, monkeypatch, "plug_ok_cli", """
        import typer
        app = typer.Typer()

        @app.command()
        def hello() -> None:
            print("hi")
    """)
    r = CliRunner().invoke(root, ["plug", "hello"])
    assert r.exit_code == 0 and r.output == "hi\n"


def test_a_function_sub_app_is_one_command(tmp_path, monkeypatch):
    root = _root(tmp_path, monkeypatch, "plug_fn_cli", """
        def hello() -> None:
            '''Say hi.'''
            print("hi")
    """, attr="hello")
    assert CliRunner().invoke(root, ["plug"]).output == "hi\n"


def test_a_missing_extra_keeps_the_command_and_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mcp", None)  # `import mcp` fails as if the [mcp] extra were not installed
    root = _root(tmp_path, monkeypatch, "plug_mcp_cli", """
        import mcp
        import typer
        app = typer.Typer()
    """)
    assert "logreasoner[mcp]" in _help_listing(root)
    code, err = _run_main(monkeypatch, capsys, root, "plug", "serve", "--http")
    assert code == 2
    assert err == ("error: `logreasoner plug` needs the optional extra [mcp] (mcp is not installed) — "
                   "pip install 'logreasoner[mcp]'\n")


@pytest.mark.parametrize("source, error", [
    ("import typer\nfrom logreasoner.errors import NoSuchThing\napp = typer.Typer()\n", "ImportError"),
    ("import not_an_extra_module_xyz\n", "ModuleNotFoundError"),
    ("raise RuntimeError('boom at import')\n", "RuntimeError"),
    ("x = 1\n", "AttributeError"),  # the module has no `app`
])
def test_any_other_failure_is_shown_with_its_module(tmp_path, monkeypatch, capsys, source, error):
    name = f"plug_broken_{error.lower()}_cli"
    root = _root(tmp_path, monkeypatch, name, source)
    assert f"failed to load: {error} in {name}" in _help_listing(root)
    code, err = _run_main(monkeypatch, capsys, root, "plug", "anything")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"error: `logreasoner plug` could not be loaded: importing {name} raised {error}: ")
    assert "LOGREASONER_DEBUG=1" in err


def test_debug_shows_the_original_import_error(tmp_path, monkeypatch):
    root = _root(tmp_path, monkeypatch, "plug_debug_cli", "raise RuntimeError('boom at import')\n")
    monkeypatch.setattr(cli_main, "app", root)
    monkeypatch.setenv("LOGREASONER_DEBUG", "1")
    with pytest.raises(SubAppLoadError) as e:
        cli_main.main(["plug"])
    assert isinstance(e.value.__cause__, RuntimeError) and "boom at import" in str(e.value.__cause__)


def test_an_extra_missing_when_a_command_runs_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tantivy", None)
    root = typer.Typer(pretty_exceptions_enable=False)

    @root.command("index")
    def index() -> None:
        import tantivy  # noqa: F401

    @root.command("other")
    def other() -> None:
        """Another command."""

    code, err = _run_main(monkeypatch, capsys, root, "index")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "optional extra [search]" in err and err.rstrip().endswith("pip install 'logreasoner[search]'")


def test_the_real_cli_lists_every_sub_app():
    names = set(typer.main.get_command(cli_main.app).commands)
    assert {s.name for s in SUB_APPS} <= names


def test_every_module_extra_is_an_extra_that_installs_it():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]

    def requirements(extra: str) -> set[str]:
        out: set[str] = set()
        for req in extras[extra]:
            name = req.split(";")[0].split("[")[0]
            for op in "<>=!~ ":
                name = name.split(op)[0]
            if name == "logreasoner":  # logreasoner[hf] inside another extra
                for inner in req.split("[", 1)[1].split("]")[0].split(","):
                    out |= requirements(inner.strip())
            else:
                out.add(name.replace("-", "").replace("_", "").lower())
        return out

    for module, extra in MODULE_EXTRAS.items():
        assert extra in extras, f"{module}: no extra [{extra}] in pyproject.toml"
        key = module.replace("_", "").lower()
        assert any(r.startswith(key) for r in requirements(extra)), f"[{extra}] does not install {module}"
