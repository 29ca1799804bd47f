"""The thought store's flowcharts and templates in SQLite: writing charts with their templates, tags and
provenance, syncing the shipped library, and reading them back.

Writes of :meth:`ThoughtRepository.write_flowchart` run inside a write transaction the caller holds (so an
import of many charts is one transaction); the other writing methods are one transaction each.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Iterable

import sqlite_utils

from logreasoner.errors import InputError
from logreasoner.thoughts_db.db import Database, utc_now
from logreasoner.thoughts_db.graph import Flowchart, FlowchartMeta
from logreasoner.thoughts_db.library import library_dir
from logreasoner.thoughts_db.prepare import PreparedChart
from logreasoner.thoughts_db.templates import StepProvenance, ThoughtTemplate
from logreasoner.thoughts_db.writers import to_mermaid

__all__ = ["ThoughtRepository"]

log = logging.getLogger(__name__)
_TAG_KINDS = (("task", "tasks"), ("system", "systems"), ("component", "components"), ("keyword", "keywords"))


class ThoughtRepository:
    """Flowcharts and thought templates of one :class:`~logreasoner.thoughts_db.db.Database`."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # -- writing --------------------------------------------------------------------------------------------
    def write_flowchart(self, db: sqlite_utils.Database, fc: Flowchart, templates: list[ThoughtTemplate],
                        *, origin: str) -> bool:
        """Write one chart with its templates inside the write transaction ``db``; a chart stored unchanged
        (same text, same templates, same origin) is left alone, so its embeddings stay. Returns whether it
        wrote."""
        mermaid = to_mermaid(fc)
        h = hashlib.sha256(mermaid.encode("utf-8"))
        for t in templates:
            h.update(t.model_dump_json().encode("utf-8"))
        content_hash = h.hexdigest()
        old = list(db.query("SELECT content_hash, origin FROM flowcharts WHERE id = ?", [fc.id]))
        if old and old[0]["content_hash"] == content_hash and old[0]["origin"] == origin:
            return False
        db.execute("DELETE FROM templates WHERE flowchart_id = ? AND origin = 'flowchart'", [fc.id])
        db.execute("DELETE FROM edges WHERE flowchart_id = ?", [fc.id])
        db.execute("DELETE FROM nodes WHERE flowchart_id = ?", [fc.id])
        db["flowcharts"].upsert(
            {
                "id": fc.id,
                "title": fc.meta.title,
                "source": fc.meta.source,
                "meta": fc.meta.model_dump_json(),
                "mermaid": mermaid,
                "content_hash": content_hash,
                "origin": origin,
                "imported_at": utc_now(),
            },
            pk="id",
        )
        db["nodes"].insert_all(
            [{"flowchart_id": fc.id, "node_id": n, "position": i, "kind": k.value, "text": t}
             for i, (n, k, t) in enumerate(fc.iter_nodes())]
        )
        db["edges"].insert_all(
            [{"flowchart_id": fc.id, "position": i, "src": a, "dst": b, "condition": c}
             for i, (a, b, c) in enumerate(fc.iter_edges())]
        )
        self._write_templates(db, templates)
        return True

    def _write_templates(self, db: sqlite_utils.Database, templates: list[ThoughtTemplate]) -> None:
        if not templates:
            return
        ids = [t.id for t in templates]
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            db.execute(f"DELETE FROM templates WHERE id IN ({','.join('?' * len(chunk))})", chunk)
        now = utc_now()
        db["templates"].insert_all(
            (
                {
                    "id": t.id,
                    "flowchart_id": t.flowchart_id,
                    "title": t.title,
                    "problem_overview": t.problem_overview,
                    "key_challenges": json.dumps(t.key_challenges, ensure_ascii=False),
                    "reasoning_steps": json.dumps(t.reasoning_steps, ensure_ascii=False),
                    "source": t.source,
                    "origin": t.origin,
                    "node_path": json.dumps(t.node_path),
                    "created_at": now,
                    "search_text": " ".join(t.tasks + t.systems + t.components + t.keywords),
                }
                for t in templates
            ),
            batch_size=500,
        )
        db["tags"].insert_all(
            (
                {"template_id": t.id, "kind": kind, "value": v}
                for t in templates
                for kind, attr in _TAG_KINDS
                for v in dict.fromkeys(getattr(t, attr))
            ),
            batch_size=500,
        )
        db["provenance"].insert_all(
            (
                {"template_id": t.id, "step": p.step, "flowchart_id": p.flowchart_id,
                 "node_ids": json.dumps(p.node_ids)}
                for t in templates
                for p in t.provenance
            ),
            batch_size=500,
        )

    def sync_library(self, charts: list[PreparedChart], *, digest: str, directory: str | Path | None,
                     force: bool = False) -> bool:
        """Make the library charts those of ``charts`` (shipped charts no longer there are removed; a chart the
        user imported under the same id is kept) and record ``digest``; True if it wrote. Without ``force``
        nothing is written when another process recorded ``digest`` meanwhile."""
        database = self.database
        with database.write() as db:
            if not force and database.get_meta("library_hash") == digest:
                return False
            user_ids = {r["id"] for r in db.query("SELECT id FROM flowcharts WHERE origin != 'library'")}
            new_ids = {fc.id for fc, _ in charts}
            for r in list(db.query("SELECT id FROM flowcharts WHERE origin = 'library'")):
                if r["id"] not in new_ids:
                    db.execute("DELETE FROM flowcharts WHERE id = ?", [r["id"]])  # cascades to the rest
            for fc, templates in charts:
                if fc.id in user_ids:
                    log.info("thought library: keeping the user's flowchart %s", fc.id)
                    continue
                self.write_flowchart(db, fc, templates, origin="library")
            database.set_meta(db, "library_hash", digest)
            database.set_meta(db, "library_dir", str(Path(directory) if directory else library_dir()))
            database.bump_generation(db)
        return True

    def add_templates(self, templates: Iterable[ThoughtTemplate]) -> int:
        """Store templates that did not come from a chart import (abstracted by an LM, written by hand).

        A template whose ``flowchart_id`` names a stored chart is kept when that chart is re-imported.
        """
        templates = list(templates)
        for t in templates:
            if not isinstance(t, ThoughtTemplate):
                raise InputError(f"expected ThoughtTemplate, got {type(t).__name__}",
                                 "wrap plans with ThoughtTemplate(**plan.model_dump())")
            if t.origin == "flowchart":
                raise InputError(f"template {t.id}: origin 'flowchart' templates come from importing their chart",
                                 "set origin='abstracted' or 'manual'")
        with self.database.write() as db:
            for t in templates:
                if t.flowchart_id and not db["flowcharts"].count_where("id = ?", [t.flowchart_id]):
                    raise InputError(f"template {t.id} refers to flowchart {t.flowchart_id}, which is not stored",
                                     "import the flowchart first, or leave flowchart_id empty")
            self._write_templates(db, templates)
            self.database.bump_generation(db)
        return len(templates)

    def delete_flowchart(self, flowchart_id: str) -> None:
        """Delete a chart with its nodes, edges and derived templates."""
        with self.database.write() as db:
            if not db["flowcharts"].count_where("id = ?", [flowchart_id]):
                raise self.unknown("flowchart", flowchart_id)
            db.execute("DELETE FROM flowcharts WHERE id = ?", [flowchart_id])  # cascades to nodes, edges, templates
            self.database.bump_generation(db)

    # -- reading --------------------------------------------------------------------------------------------
    def unknown(self, what: str, key: str) -> InputError:
        """The error for a chart or template id that is not stored, suggesting close ids."""
        table = "flowcharts" if what == "flowchart" else "templates"
        ids = [r["id"] for r in self.database.db.query(f"SELECT id FROM {table}")]
        close = difflib.get_close_matches(key, ids, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "list them with `logreasoner thoughts list`"
        return InputError(f"no {what} {key!r} in {self.database.path}", hint)

    def has_flowchart(self, flowchart_id: str) -> bool:
        return bool(self.database.db["flowcharts"].count_where("id = ?", [flowchart_id]))

    def get_flowchart(self, flowchart_id: str) -> Flowchart:
        with self.database.read() as db:
            rows = list(db.query("SELECT meta FROM flowcharts WHERE id = ?", [flowchart_id]))
            nodes = list(db.query("SELECT node_id, kind, text FROM nodes WHERE flowchart_id = ? ORDER BY position",
                                  [flowchart_id]))
            edges = list(db.query("SELECT src, dst, condition FROM edges WHERE flowchart_id = ? ORDER BY position",
                                  [flowchart_id]))
        if not rows:
            raise self.unknown("flowchart", flowchart_id)
        fc = Flowchart(FlowchartMeta.model_validate_json(rows[0]["meta"]))
        for r in nodes:
            fc.add_node(r["node_id"], r["kind"], r["text"])
        for r in edges:
            fc.add_edge(r["src"], r["dst"], r["condition"])
        return fc

    def flowchart_ids(self) -> list[str]:
        return [r["id"] for r in self.database.db.query("SELECT id FROM flowcharts ORDER BY id")]

    def list_flowcharts(self, *, task: str | None = None, system: str | None = None) -> list[dict[str, Any]]:
        """One summary per chart: id, title, tasks, systems, origin, node/edge/template counts."""
        if task:
            from logreasoner.tasks import get_task

            task = get_task(task).name
        sql = """
            SELECT f.id, f.title, f.meta, f.origin, f.imported_at,
                   (SELECT count(*) FROM nodes n WHERE n.flowchart_id = f.id) AS nodes,
                   (SELECT count(*) FROM edges e WHERE e.flowchart_id = f.id) AS edges,
                   (SELECT count(*) FROM templates t WHERE t.flowchart_id = f.id) AS templates
            FROM flowcharts f ORDER BY f.id
        """
        out = []
        for r in self.database.db.query(sql):
            meta = json.loads(r["meta"])
            if task and task not in meta.get("tasks", []):
                continue
            if system and system.lower() not in [s.lower() for s in meta.get("systems", [])]:
                continue
            out.append({
                "id": r["id"], "title": r["title"], "tasks": meta.get("tasks", []),
                "systems": meta.get("systems", []), "origin": r["origin"], "nodes": r["nodes"],
                "edges": r["edges"], "templates": r["templates"], "imported_at": r["imported_at"],
            })
        return out

    def get_templates(self, ids: Iterable[str]) -> dict[str, ThoughtTemplate]:
        """Templates by id (unknown ids are left out)."""
        ids = list(dict.fromkeys(ids))
        rows: dict[str, dict] = {}
        tags: dict[str, dict[str, list[str]]] = {}
        prov: dict[str, list[StepProvenance]] = {}
        with self.database.read() as db:
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                marks = ",".join("?" * len(chunk))
                for r in db.query(f"SELECT * FROM templates WHERE id IN ({marks})", chunk):
                    rows[r["id"]] = r
                for r in db.query(f"SELECT template_id, kind, value FROM tags WHERE template_id IN ({marks}) "
                                  "ORDER BY rowid", chunk):
                    tags.setdefault(r["template_id"], {}).setdefault(r["kind"], []).append(r["value"])
                for r in db.query(f"SELECT template_id, step, flowchart_id, node_ids FROM provenance "
                                  f"WHERE template_id IN ({marks}) ORDER BY template_id, step", chunk):
                    prov.setdefault(r["template_id"], []).append(StepProvenance(
                        step=r["step"], flowchart_id=r["flowchart_id"] or "", node_ids=json.loads(r["node_ids"])))
        out = {}
        for tid in ids:
            r = rows.get(tid)
            if r is None:
                continue
            tg = tags.get(tid, {})
            out[tid] = ThoughtTemplate(
                id=tid, title=r["title"], problem_overview=r["problem_overview"],
                key_challenges=json.loads(r["key_challenges"]), reasoning_steps=json.loads(r["reasoning_steps"]),
                source=r["source"], origin=r["origin"], flowchart_id=r["flowchart_id"],
                node_path=json.loads(r["node_path"]), provenance=prov.get(tid, []),
                tasks=tg.get("task", []), systems=tg.get("system", []), components=tg.get("component", []),
                keywords=tg.get("keyword", []),
            )
        return out

    def templates(self, *, flowchart_id: str | None = None) -> list[ThoughtTemplate]:
        """All templates, or those of one chart, in the order they were stored."""
        with self.database.read() as db:
            if flowchart_id is None:
                ids = [r["id"] for r in db.query("SELECT id FROM templates ORDER BY rowid")]
            else:
                ids = [r["id"] for r in db.query("SELECT id FROM templates WHERE flowchart_id = ? ORDER BY rowid",
                                                 [flowchart_id])]
            got = self.get_templates(ids)
        return [got[i] for i in ids if i in got]

    def get_template(self, template_id: str) -> ThoughtTemplate:
        got = self.get_templates([template_id])
        if template_id not in got:
            raise self.unknown("template", template_id)
        return got[template_id]

    def method_template_ids(self, flowchart_id: str | None) -> list[str]:
        """The template ids of a chart (a task's method chart), in order; none without a chart."""
        if not flowchart_id:
            return []
        return [r["id"] for r in self.database.db.query(
            "SELECT id FROM templates WHERE flowchart_id = ? ORDER BY rowid", [flowchart_id])]

    def stats(self) -> dict[str, Any]:
        """Counts of charts, templates (by origin and task), embeddings (by model) and recorded uses, from one
        snapshot."""
        database = self.database
        with database.read() as db:
            q = lambda sql, *a: database.connection().execute(sql, a).fetchone()[0]  # noqa: E731
            by_origin = {r["origin"]: r["n"] for r in db.query(
                "SELECT origin, count(*) AS n FROM templates GROUP BY origin ORDER BY origin")}
            by_task = {r["value"]: r["n"] for r in db.query(
                "SELECT value, count(*) AS n FROM tags WHERE kind = 'task' GROUP BY value ORDER BY value")}
            by_model = {r["model"]: r["n"] for r in db.query(
                "SELECT model, count(*) AS n FROM embeddings GROUP BY model ORDER BY model")}
            return {
                "path": str(database.path),
                "schema_version": database.schema_version,
                "flowcharts": q("SELECT count(*) FROM flowcharts"),
                "library_flowcharts": q("SELECT count(*) FROM flowcharts WHERE origin = 'library'"),
                "nodes": q("SELECT count(*) FROM nodes"),
                "edges": q("SELECT count(*) FROM edges"),
                "templates": q("SELECT count(*) FROM templates"),
                "templates_by_origin": by_origin,
                "templates_by_task": by_task,
                "embeddings": by_model,
                "retrievals_recorded": q("SELECT coalesce(sum(count), 0) FROM usage"),
                "most_used": {r["template_id"]: r["count"] for r in db.query(
                    "SELECT template_id, count FROM usage ORDER BY count DESC, template_id LIMIT 5")},
                "library_hash": (database.get_meta("library_hash") or "")[:12],
                "size_bytes": database.path.stat().st_size if database.path.exists() else 0,
            }
