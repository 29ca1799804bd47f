"""A PEFT LoRA adapter of a Llama-family student as a llama.cpp GGUF LoRA (written with the ``gguf`` package), and
back (:func:`import_gguf_lora`: a shipped student's GGUF adapter as a PEFT folder a training phase continues from).

llama.cpp applies ``blk.N.<tensor>.weight.lora_a`` / ``.lora_b`` pairs on top of the (quantised) base GGUF with
scale ``adapter.lora.alpha / rank``. Hugging Face and GGUF differ in the row order of the query and key
projections (``convert_hf_to_gguf`` permutes them for llama.cpp's rotary layout); the same permutation is
applied to the rows of ``lora_B`` of ``q_proj`` and ``k_proj``. So the tuned student runs on llama.cpp at
llama.cpp speed, with the same weights it was trained with (the base GGUF is what transformers dequantised).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from logreasoner.errors import ModelUnavailableError

__all__ = ["export_gguf_lora", "import_gguf_lora", "HF_TO_GGUF", "permute_rows", "unpermute_rows"]

HF_TO_GGUF = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_KEY = re.compile(r"layers\.(\d+)\.(self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj)\.lora_([AB])\.weight$")


def permute_rows(w: Any, n_head: int) -> Any:
    """convert_hf_to_gguf's ``LlamaModel.permute`` on the output rows of a weight (numpy)."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape))


def unpermute_rows(w: Any, n_head: int) -> Any:
    """The inverse of :func:`permute_rows` (llama.cpp's rotary row order back to Hugging Face's)."""
    return (w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape))


def export_gguf_lora(adapter_dir: str | Path, out_path: str | Path, *, base_config: str | Path) -> Path:
    """Write ``out_path`` (a GGUF LoRA) from a PEFT adapter folder; ``base_config`` is the base model's
    ``config.json`` (or its folder). Raises ModelUnavailableError for adapters llama.cpp cannot take."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    adapter_dir = Path(adapter_dir)
    acfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    base_config = Path(base_config)
    bcfg = json.loads((base_config / "config.json" if base_config.is_dir() else base_config).read_text())
    if bcfg.get("model_type") != "llama":
        raise ModelUnavailableError(f"GGUF LoRA export covers Llama-family students, not {bcfg.get('model_type')!r}",
                                    "run the tuned student on the transformers backend (hf:) instead")
    if acfg.get("rank_pattern") or acfg.get("alpha_pattern"):
        raise ModelUnavailableError("per-module LoRA ranks/alphas cannot be written as one GGUF adapter",
                                    "train without rank_pattern/alpha_pattern, or use the hf backend")
    if acfg.get("use_dora"):
        raise ModelUnavailableError("DoRA adapters have no llama.cpp form", "use the hf backend")
    r = int(acfg["r"])
    alpha = float(acfg["lora_alpha"])
    if acfg.get("use_rslora"):
        alpha = alpha * math.sqrt(r)  # PEFT scales by alpha/sqrt(r); llama.cpp by alpha/r
    n_head = int(bcfg["num_attention_heads"])
    n_kv = int(bcfg.get("num_key_value_heads") or n_head)
    weights_path = adapter_dir / "adapter_model.safetensors"
    if not weights_path.is_file():
        raise ModelUnavailableError(f"no adapter_model.safetensors in {adapter_dir}", "save the adapter with safetensors")
    tensors = load_file(str(weights_path))
    out: dict[str, Any] = {}
    for key, value in tensors.items():
        m = _KEY.search(key)
        if not m:
            raise ModelUnavailableError(f"adapter tensor {key} has no llama.cpp counterpart",
                                        "target only q/k/v/o and gate/up/down projections")
        layer, module, ab = int(m.group(1)), m.group(2), m.group(3)
        w = value.astype(np.float32)
        if ab == "B" and module == "self_attn.q_proj":
            w = permute_rows(w, n_head)
        elif ab == "B" and module == "self_attn.k_proj":
            w = permute_rows(w, n_kv)
        out[f"blk.{layer}.{HF_TO_GGUF[module]}.weight.lora_{ab.lower()}"] = np.ascontiguousarray(w)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), arch="llama")
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    for name in sorted(out):
        writer.add_tensor(name, out[name])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out_path)
    return out_path


_GGUF_KEY = re.compile(r"^blk\.(\d+)\.(\w+)\.weight\.lora_([ab])$")


def import_gguf_lora(gguf_path: str | Path, out_dir: str | Path, *, base_config: str | Path,
                     base_model: str = "local-base") -> Path:
    """Write a PEFT LoRA folder (``adapter_config.json`` + ``adapter_model.safetensors``) from a llama.cpp GGUF LoRA
    that :func:`export_gguf_lora` wrote, e.g. the shipped student's ``adapter.gguf``: an SFT phase may continue from
    it (``continue_from = "<folder>"``, or the ``.gguf`` itself) when the run folder that made it is gone. Rank, target modules and layers
    are read from the tensors; the scale is kept (PEFT's alpha / r equals llama.cpp's)."""
    import gguf
    import numpy as np
    from safetensors.numpy import save_file

    gguf_path, out_dir = Path(gguf_path), Path(out_dir)
    if not gguf_path.is_file():
        raise ModelUnavailableError(f"no GGUF adapter at {gguf_path}", "pass the path of an adapter.gguf")
    base_config = Path(base_config)
    bcfg = json.loads((base_config / "config.json" if base_config.is_dir() else base_config).read_text())
    n_head = int(bcfg["num_attention_heads"])
    n_kv = int(bcfg.get("num_key_value_heads") or n_head)
    reader = gguf.GGUFReader(str(gguf_path))
    field = reader.fields.get(gguf.Keys.Adapter.LORA_ALPHA)
    if field is None:
        raise ModelUnavailableError(f"{gguf_path} is not a GGUF LoRA adapter (no {gguf.Keys.Adapter.LORA_ALPHA})",
                                    "pass an adapter written by `logreasoner finetune export`")
    alpha = float(field.parts[-1][0])
    to_hf = {v: k for k, v in HF_TO_GGUF.items()}
    tensors: dict[str, Any] = {}
    ranks, modules, layers = set(), set(), set()
    for t in reader.tensors:
        m = _GGUF_KEY.match(t.name)
        if not m or m.group(2) not in to_hf:
            raise ModelUnavailableError(f"GGUF tensor {t.name} is not a LoRA tensor of a Llama projection",
                                        "pass an adapter written by `logreasoner finetune export`")
        layer, module, ab = int(m.group(1)), to_hf[m.group(2)], m.group(3).upper()
        w = np.array(t.data, dtype=np.float32).reshape([int(x) for x in reversed(t.shape)])
        if ab == "B" and module == "self_attn.q_proj":
            w = unpermute_rows(w, n_head)
        elif ab == "B" and module == "self_attn.k_proj":
            w = unpermute_rows(w, n_kv)
        ranks.add(int(w.shape[0] if ab == "A" else w.shape[1]))
        modules.add(module.split(".")[-1])
        layers.add(layer)
        tensors[f"base_model.model.model.layers.{layer}.{module}.lora_{ab}.weight"] = np.ascontiguousarray(w)
    if not tensors or len(ranks) != 1:
        raise ModelUnavailableError(f"{gguf_path}: {'no LoRA tensors' if not tensors else 'several LoRA ranks'}",
                                    "pass an adapter with one rank for every module")
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out_dir / "adapter_model.safetensors"))
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": base_model,
              "r": ranks.pop(), "lora_alpha": alpha, "lora_dropout": 0.0, "bias": "none", "fan_in_fan_out": False,
              "target_modules": sorted(modules), "layers_to_transform": sorted(layers), "use_rslora": False,
              "use_dora": False, "inference_mode": True}
    (out_dir / "adapter_config.json").write_text(json.dumps(config, indent=1) + "\n")
    return out_dir
