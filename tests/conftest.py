"""Shared fixtures: a tiny offline chat model (BPE tokenizer trained on log text + 2-layer Llama)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Programs' default retriever: lexical only in tests (the embedding model's first load costs tens of seconds);
# the thought store's own tests exercise hybrid retrieval explicitly.
os.environ.setdefault("LOGREASONER_EMBEDDINGS", "0")

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


def build_tiny_model(folder: Path, *, vocab_size: int = 300, seed: int = 0) -> Path:
    """Train a byte-level BPE on log text, wrap it with a ChatML template, save a 2-layer Llama beside it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(seed)
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(LOG_TEXT * 20, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", unk_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
                      bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id)
    model = LlamaForCausalLM(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
