"""Shared fixtures: tiny offline chat models (a byte-level BPE trained in the test on log text or on the
programs' own prompts, a ChatML template with {% generation %} markers, a 2-layer Llama with hidden size 16) and
small labelled examples of the two tasks the programmatic experts cover."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

# Programs' default retriever: lexical only in tests (the embedding model's first load costs tens of seconds);
# the thought store's own tests exercise hybrid retrieval explicitly.
os.environ.setdefault("LOGREASONER_EMBEDDINGS", "0")

# DSPy's answer cache: one per test session, never the user's (~/.dspy_cache or their DSPY_CACHEDIR). Tests that
# run the embedded model under its real name (the eval smoke test: the first example of each quick dataset) left
# their answers there, and the user's next eval served its first examples from them — the "cache hits although
# nothing had run them" of the first real eval run. Set before DSPy is imported: it reads the folder on import.
_DSPY_CACHE = tempfile.mkdtemp(prefix="logreasoner-tests-dspy-cache-")
os.environ["DSPY_CACHEDIR"] = _DSPY_CACHE
atexit.register(shutil.rmtree, _DSPY_CACHE, True)
if "dspy" in sys.modules:  # imported before this file (by a plugin): move its cache too
    sys.modules["dspy"].configure_cache(disk_cache_dir=_DSPY_CACHE)


@pytest.fixture(scope="session", autouse=True)
def _test_cache_dir(tmp_path_factory) -> Iterator[Path]:
    """The cache folder (``LOGREASONER_CACHE_DIR``: thought store, answer and template caches, models) is a new one
    per test session, never the user's: tests that open the default thought store or caches wrote to the user's.

    The embedded models' weights are the exception: each model folder already in the user's ``models/`` (and each
    converted HF folder in ``hf/``) is linked in, so tests marked ``model`` find what ``logreasoner models pull
    local`` fetched instead of downloading it again. Set in ``os.environ``, so child processes use it too; settings
    are read afresh on every ``get_settings()``, so nothing needs clearing.
    """
    from logreasoner.settings import get_settings

    user_cache = get_settings().cache_dir
    cache = tmp_path_factory.mktemp("logreasoner-cache")
    for part in ("models", "hf"):
        (cache / part).mkdir()
        if (user_cache / part).is_dir():
            for entry in (user_cache / part).iterdir():
                if entry.is_dir() and not entry.name.startswith("."):
                    (cache / part / entry.name).symlink_to(entry, target_is_directory=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOGREASONER_CACHE_DIR", str(cache))
        yield cache


@pytest.fixture(autouse=True)
def _task_registry():
    """Tasks a test registers (``register_task``) are gone after it: the registry is restored to what it held."""
    from logreasoner import tasks

    tasks.list_tasks()  # the built-in and entry-point tasks first, so they are in the snapshot
    registry, aliases = dict(tasks._REGISTRY), dict(tasks._ALIASES)
    yield
    tasks._REGISTRY.clear()
    tasks._REGISTRY.update(registry)
    tasks._ALIASES.clear()
    tasks._ALIASES.update(aliases)


CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

LOG_TEXT = [
    "PacketResponder 1 for block blk_38865049064139660 terminating",
    "Failed password for invalid user admin from 10.0.0.1 port 22 ssh2",
    "kernel: data TLB error interrupt",
    '{"verdict": "abnormal", "evidence_lines": [1, 2]}',
    '{"label": "port down"} {"template": "a <*> b"} {"steps": [], "answer": {}}',
    "normal abnormal reasoning answer problem_overview key_challenges reasoning_steps",
]


ANOMALY_ROWS = [
    ("MidplaneSwitchController::receiveTrain() iap failed: <*> <*> ec000000", "abnormal"),
    ("machine check interrupt (bit=0x1d): L2 dcache unit data parity error", "abnormal"),
    ("generating core.<*>", "normal"),
    ("instruction cache parity error corrected", "normal"),
]
DIAGNOSIS_LABELS = ["Operational port down", "Management port down", "Virtual Machine Startup Failure"]
DIAGNOSIS_ROWS = [
    ("bridge br-int: deleted interface vhu1 on port 10", "Operational port down"),
    ("bond bond-prv: shift 58kB of load (with hash 5) from dpdk1 to dpdk0", "Virtual Machine Startup Failure"),
]


def build_tiny_chat_model(folder: Path, texts: list[str], *, vocab_size: int, seed: int = 0,
                          kv_heads: int = 2, tie_embeddings: bool = False) -> Path:
    """Train a byte-level BPE on ``texts``, wrap it with a ChatML template, save a 2-layer Llama beside it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(seed)
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", unk_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=kv_heads, head_dim=8, max_position_embeddings=4096,
                      bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                      pad_token_id=fast.pad_token_id, tie_word_embeddings=tie_embeddings)
    model = LlamaForCausalLM(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def build_tiny_model(folder: Path, *, vocab_size: int = 300, seed: int = 0) -> Path:
    """A tiny chat model whose tokenizer learnt a few log lines and JSON answers."""
    return build_tiny_chat_model(folder, LOG_TEXT * 20, vocab_size=vocab_size, seed=seed)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def _corpus() -> list[str]:
    """The text the tiny tokenizer learns: the programs' real prompts plus log lines and JSON answers."""
    import dspy

    from logreasoner.programs import InMemoryRetriever, builtin_plans, build_program
    from logreasoner.contracts.retrieval import render_plans

    texts = []
    for task, rows, labels in (("anomaly", ANOMALY_ROWS, None), ("diagnosis", DIAGNOSIS_ROWS, DIAGNOSIS_LABELS)):
        program = build_program("coarse_to_fine", task, retriever=InMemoryRetriever(builtin_plans()))
        sig = program.step_reasoner.predict.signature
        sig = sig.with_updated_fields("answer", type_=program.task.answer_model(labels))
        for log, _ in rows:
            ex = program._excerpt(log, None)
            for m in dspy.JSONAdapter().format(program.planner.predict.signature, demos=[], inputs={
                    "question": "", "log_excerpt": ex.text, "expert_plans": render_plans(builtin_plans())}):
                texts.append(m["content"])
            for m in dspy.JSONAdapter().format(sig, demos=[], inputs={"question": "", "log_excerpt": ex.text,
                                                                     "plan": "1. Check"}):
                texts.append(m["content"])
    texts += ['{"steps": [{"step": "Check", "finding": "L1 failed", "evidence_lines": [1]}], '
              '"answer": {"verdict": "abnormal", "evidence_lines": [1]}}', '{"label": "Operational port down"}']
    return texts


def build_tiny_student(folder: Path, *, vocab_size: int = 1200, seed: int = 0) -> Path:
    """The finetune tests' student: its tokenizer learnt the programs' real prompts, so prompts stay short."""
    return build_tiny_chat_model(folder, _corpus() * 3, vocab_size=vocab_size, seed=seed, kv_heads=1,
                                 tie_embeddings=True)


@pytest.fixture(scope="session")
def tiny_student_dir(tmp_path_factory) -> Path:
    return build_tiny_student(tmp_path_factory.mktemp("tiny-student") / "model")


def make_examples() -> list:
    from logreasoner.finetune.data import make_example

    out = [make_example(log, gold, task="anomaly", meta={"id": f"a{i}", "system": "BGL"})
           for i, (log, gold) in enumerate(ANOMALY_ROWS)]
    out += [make_example(log, gold, task="diagnosis", labels=DIAGNOSIS_LABELS, question="Which fault type?",
                         meta={"id": f"d{i}"}) for i, (log, gold) in enumerate(DIAGNOSIS_ROWS)]
    return out


@pytest.fixture(scope="session")
def ft_data():
    """The labelled rows, the label set and a factory of fresh examples (dspy.Example list)."""
    from types import SimpleNamespace

    return SimpleNamespace(anomaly=ANOMALY_ROWS, diagnosis=DIAGNOSIS_ROWS, labels=DIAGNOSIS_LABELS,
                           examples=make_examples)
