"""The exported GGUF LoRA makes llama.cpp compute what transformers + PEFT compute (real SmolLM2; slow)."""

from __future__ import annotations

import importlib.util

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.model]


@pytest.fixture(scope="module")
def gguf_path():
    from logreasoner.errors import ModelUnavailableError
    from logreasoner.lm.registry import resolve_embedded

    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")
    try:
        return resolve_embedded("local", allow_download=False)
    except ModelUnavailableError:
        pytest.skip("the embedded model is not downloaded")


def test_llamacpp_with_exported_lora_matches_transformers_with_peft(tmp_path, gguf_path):
    import numpy as np
    import torch
    from llama_cpp import Llama
    from peft import LoraConfig, get_peft_model

    from logreasoner.finetune.gguf_lora import export_gguf_lora
    from logreasoner.finetune.student import ensure_student_folder, load_student

    torch.manual_seed(0)
    model, tok = load_student("local")
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, layers_to_transform=list(range(24, 30)),
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                             "up_proj", "down_proj"]))
    for n, p in model.named_parameters():
        if "lora_B" in n:
            p.data.normal_(0, 0.15)  # a LoRA that changes the logits a lot
    model.save_pretrained(str(tmp_path / "ad"))
    out = export_gguf_lora(tmp_path / "ad", tmp_path / "ad.gguf", base_config=ensure_student_folder("local"))
    text = tok.apply_chat_template([{"role": "user", "content": "kernel: disk sda1 failed with I/O error. Normal?"}],
                                   tokenize=False, add_generation_prompt=True) + "The line"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        torch_lora = model(torch.tensor([ids])).logits[0].numpy()
        with model.disable_adapter():
            torch_base = model(torch.tensor([ids])).logits[0].numpy()

    def llama(lora):
        llm = Llama(model_path=str(gguf_path), lora_path=lora, n_ctx=512, n_threads=1, logits_all=True, verbose=False)
        llm.eval(ids)
        return np.array(llm.scores[: len(ids)])

    cpp_lora = llama(str(out))
    lora_effect = np.abs(torch_lora - torch_base).mean()
    mismatch = np.abs(cpp_lora - torch_lora).mean()
    # llama.cpp runs the Q4_1 weights with quantised activations: a small gap remains, far below the LoRA's effect
    assert lora_effect > 0.5
    assert mismatch < 0.3 * lora_effect
    assert (cpp_lora.argmax(-1) == torch_lora.argmax(-1)).mean() > (cpp_lora.argmax(-1) == torch_base.argmax(-1)).mean()
