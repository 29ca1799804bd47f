"""The tantivy text index of large stores: ranking and task filter, built / reopened / updated from the change
log / rebuilt when foreign, the auto threshold, and FTS5 when tantivy is missing."""

from __future__ import annotations

import json
import sys

import pytest

from logreasoner.errors import ConfigError, InputError
from logreasoner.thoughts_db import ThoughtStore, ThoughtTemplate, parse_mermaid
from logreasoner.thoughts_db import textindex
from logreasoner.thoughts_db.textindex import TextIndex, text_index_available, text_index_path

needs_tantivy = pytest.mark.skipif(not text_index_available(), reason="tantivy not installed")


def tpl(tid: str, title: str, overview: str = "", steps: tuple[str, ...] = ("look",), tasks=()) -> ThoughtTemplate:
    return ThoughtTemplate(id=tid, title=title, problem_overview=overview, key_challenges=[],
                           reasoning_steps=list(steps), tasks=list(tasks), origin="manual")


TEMPLATES = [
    tpl("a:title", "disk failure", tasks=["rca"]),
    tpl("b:overview", "storage", overview="a disk failed", tasks=["anomaly"]),
    tpl("c:untagged", "notes", steps=("replace the disk", "check cables")),
    tpl("d:other", "network", overview="link down", tasks=["anomaly"]),
]


def ids(plans) -> list[str]:
    return [p.id for p in plans]


@needs_tantivy
def test_tantivy_ranks_and_filters_like_fts5(store):
    store.add_templates(TEMPLATES)
    for engine in ("fts5", "tantivy"):
        got = ids(store.retrieve("disk", k=4, theta=None, engine=engine, record_usage=False))
        assert got[0] == "a:title" and set(got) == {"a:title", "b:overview", "c:untagged"}, engine
        assert set(ids(store.retrieve("disk", task="anomaly", k=4, engine=engine))) == {"b:overview", "c:untagged"}
        assert ids(store.retrieve("disk", task="parse", k=4, engine=engine)) == ["c:untagged"]
        assert ids(store.retrieve("link", k=4, engine=engine)) == ["d:other"]
    assert text_index_path(store.path).is_dir()


@needs_tantivy
def test_text_index_is_reopened_updated_from_the_log_and_rebuilt_when_foreign(tmp_path, monkeypatch):
    path = tmp_path / "t.db"
    store = ThoughtStore(path, embeddings=False)
    store.add_templates(TEMPLATES)
    assert ids(store.retrieve("cables", k=1, engine="tantivy")) == ["c:untagged"]
    store.close()

    def no_rebuild(self, conn):
        raise AssertionError("the text index was rebuilt")

    with monkeypatch.context() as m:
        m.setattr(TextIndex, "_rebuild", no_rebuild)
        again = ThoughtStore(path, embeddings=False)
        again.import_flowcharts(parse_mermaid(
            "---\nid: cable-fault\ntitle: cable fault\ntasks: [rca]\nsystems: [any]\n---\nflowchart TD\n"
            "  S0([Symptom: link flaps]) --> K1((Conclusion: a broken cables run))\n"))
        assert ids(again.retrieve("flaps", k=1, engine="tantivy"))[0].startswith("cable-fault:")
        again.delete_flowchart("cable-fault")
        assert again.retrieve("flaps", k=3, engine="tantivy") == []
        again.close()

    other = ThoughtStore(tmp_path / "o.db", embeddings=False)
    other.add_templates([tpl("o:only", "unrelated words")])
    other.retrieve("words", k=1, engine="tantivy")
    other.close()
    folder = text_index_path(path)
    meta = (text_index_path(other.path) / "logreasoner.json").read_text()
    (folder / "logreasoner.json").write_text(meta)  # now claims to belong to the other store
    fresh = ThoughtStore(path, embeddings=False)
    assert ids(fresh.retrieve("cables", k=1, engine="tantivy")) == ["c:untagged"]  # rebuilt, not trusted
    assert json.loads((folder / "logreasoner.json").read_text())["store_id"] == fresh.get_meta("store_id")
    fresh.close()


@needs_tantivy
def test_auto_uses_tantivy_only_from_the_threshold(tmp_path, monkeypatch):
    store = ThoughtStore(tmp_path / "a.db", embeddings=False)
    store.add_templates(TEMPLATES)
    store.retrieve("disk", k=1)
    assert not text_index_path(store.path).exists()  # 4 templates: FTS5
    monkeypatch.setattr(textindex, "TEXT_INDEX_FROM", 4)
    assert ids(store.retrieve("disk", k=1)) == ["a:title"]
    assert text_index_path(store.path).is_dir()
    store.close()


def test_without_tantivy_auto_is_fts5_and_tantivy_says_what_to_install(store, monkeypatch):
    monkeypatch.setitem(sys.modules, "tantivy", None)
    monkeypatch.setattr(textindex, "TEXT_INDEX_FROM", 0)
    assert not text_index_available()
    store.add_templates(TEMPLATES)
    assert ids(store.retrieve("disk", k=1)) == ["a:title"]
    assert not text_index_path(store.path).exists()
    with pytest.raises(ConfigError, match="not installed") as err:
        store.retrieve("disk", engine="tantivy")
    assert "pip install 'logreasoner[search]'" in err.value.hint
    with pytest.raises(InputError, match="lexical engine"):
        store.retrieve("disk", engine="lucene")


@needs_tantivy
def test_unwritable_text_index_falls_back_to_fts5(store, monkeypatch, caplog):
    def cannot_write(self, conn):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(TextIndex, "_rebuild", cannot_write)
    monkeypatch.setattr(textindex, "TEXT_INDEX_FROM", 0)
    store.add_templates(TEMPLATES)
    assert ids(store.retrieve("disk", k=1)) == ["a:title"]  # auto: FTS5, with a warning
    assert any("ranking with FTS5" in r.message for r in caplog.records)
    with pytest.raises(ConfigError, match="cannot be written"):
        store.retrieve("disk", engine="tantivy")
