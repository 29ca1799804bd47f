"""Fixtures of the finetune tests: a tiny offline student (a byte-level BPE trained on the programs' own prompt
text and log lines, a ChatML template with {% generation %} markers, a 2-layer Llama with hidden size 16) saved
as a Hugging Face folder, and small labelled examples of the two tasks the programmatic experts cover."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\n' }}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

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


def _corpus() -> list[str]:
    """The text the tiny tokenizer learns: the programs' real prompts plus log lines and JSON answers."""
    import dspy

    from logreasoner.programs import InMemoryRetriever, builtin_plans, build_program
    from logreasoner.programs.retrieval import render_plans

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
    """A tiny chat model as a HF folder: BPE tokenizer + ChatML template with generation markers + 2-layer Llama."""
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
    tok.train_from_iterator(_corpus() * 3, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", unk_token="<|endoftext|>")
    fast.chat_template = TINY_CHAT_TEMPLATE
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=4096,
                      bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                      pad_token_id=fast.pad_token_id, tie_word_embeddings=True)
    model = LlamaForCausalLM(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


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
