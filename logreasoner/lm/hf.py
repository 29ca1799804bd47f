"""transformers backend: a Hugging Face folder or a GGUF file in process, an optional PEFT LoRA adapter,
and JSON-schema-constrained decoding through lm-format-enforcer (a logits processor) when it is installed.

Slower than llama.cpp on a CPU (see NOTES), but it is what runs a tuned student (base + LoRA) exactly as trained.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from logreasoner.errors import ModelUnavailableError
from logreasoner.lm.engine_base import LocalEngine

__all__ = ["TransformersEngine", "load_hf_model"]


def load_hf_model(path: str, *, adapter: str | None = None, cache_dir: Path | None = None) -> tuple[Any, Any]:
    """Load (model, tokenizer) from a HF folder or a .gguf file (dequantised once, then cached as a HF folder)."""
    try:
        import torch  # noqa: F401
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise ModelUnavailableError("the transformers backend is not installed",
                                    "pip install 'logreasoner[hf]'") from None
    p = Path(path)
    if p.is_file() and p.suffix.lower() == ".gguf":
        from logreasoner.lm.registry import sha256_file
        from logreasoner.settings import get_settings

        cache = Path(cache_dir) if cache_dir else get_settings().cache_dir / "hf"
        st = p.stat()
        key = f"{p.stem}-{st.st_size}"
        folder = cache / key
        if not (folder / "config.json").is_file():
            model = AutoModelForCausalLM.from_pretrained(str(p.parent), gguf_file=p.name)
            tok = AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name)
            if getattr(model, "hf_quantizer", None) is not None:
                model.hf_quantizer.remove_quantization_config(model)  # weights are dense fp32 (NOTES pitfall 1)
            tmp = folder.with_name(folder.name + ".tmp")
            model.save_pretrained(tmp)
            tok.save_pretrained(tmp)
            (tmp / "SOURCE").write_text(f"{p}\n{sha256_file(p)}\n")
            os.replace(tmp, folder) if not folder.exists() else None
        p = folder
    if not (p / "config.json").is_file():
        raise ModelUnavailableError(f"{p} is not a Hugging Face model folder (no config.json)",
                                    "pass a folder saved with save_pretrained, or a .gguf file")
    tok = AutoTokenizer.from_pretrained(str(p))
    model = AutoModelForCausalLM.from_pretrained(str(p))
    if adapter:
        try:
            from peft import PeftModel
        except ImportError:
            raise ModelUnavailableError("LoRA adapters need peft", "pip install 'logreasoner[hf]'") from None
        if not (Path(adapter) / "adapter_config.json").is_file():
            raise ModelUnavailableError(f"{adapter} is not a PEFT adapter folder (no adapter_config.json)",
                                        "pass the adapter folder the finetune run wrote")
        model = PeftModel.from_pretrained(model, adapter)
    model.eval()
    return model, tok


MAX_DIGITS = 6  # lm-format-enforcer ignores integer bounds: cap the digits of a number instead


class _SchemaProcessor:
    """A transformers logits processor that lets through only tokens lm-format-enforcer allows, and, inside an
    integer, no exponent and no more than ``MAX_DIGITS`` digits (lm-format-enforcer allows ``1e5`` in integer
    fields and ignores ``maximum``; a weak model otherwise writes 99999... until max_tokens)."""

    def __init__(self, enforcer: Any, digit_tokens: list[int], exponent_tokens: list[int]) -> None:
        self.enforcer = enforcer
        self.digit_tokens = digit_tokens
        self.exponent_tokens = exponent_tokens

    def _integer_state(self, ids: list[int]) -> Any:
        state = self.enforcer.prefix_states.get(tuple(ids))
        stack = getattr(getattr(state, "parser", None), "object_stack", None)
        top = stack[-1] if stack else None
        if type(top).__name__ == "NumberParsingState" and not getattr(top, "allow_floating_point", True):
            return top
        return None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        ids = input_ids[0].tolist()
        allowed = self.enforcer.get_allowed_tokens(ids).allowed_tokens
        mask = torch.full_like(scores, float("-inf"))
        mask[:, allowed] = 0
        number = self._integer_state(ids)
        if number is not None:
            blocked = mask.clone()
            blocked[:, self.exponent_tokens] = float("-inf")
            if sum(c.isdigit() for c in number.parsed_string) >= MAX_DIGITS:
                blocked[:, self.digit_tokens] = float("-inf")
            if torch.isfinite(blocked).any():  # never leave the model without a legal token
                mask = blocked
        return scores + mask


class TransformersEngine(LocalEngine):
    """A transformers causal LM (optionally with a PEFT adapter) as a DSPy engine."""

    def __init__(self, model_path: str, *, adapter: str | None = None, constrained: bool = True,
                 model: Any = None, tokenizer: Any = None) -> None:
        super().__init__(constrained=constrained)
        self.model_path = str(model_path)
        self.adapter = adapter
        self._model, self._tok = model, tokenizer
        self._tok_data = None
        self._digit_tokens: list[int] = []
        self._exponent_tokens: list[int] = []
        if model is None and not Path(self.model_path).exists():
            raise ModelUnavailableError(f"model not found: {self.model_path}", "check the path")

    @property
    def model_name(self) -> str:
        return Path(self.model_path).name + (f"+{Path(self.adapter).name}" if self.adapter else "")

    def dump_state(self) -> dict:
        return {"model_path": self.model_path, "adapter": self.adapter, "constrained": self.constrained,
                "prompt_layout": self.prompt_layout}

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            self._model, self._tok = load_hf_model(self.model_path, adapter=self.adapter)
        return self._model, self._tok

    def _enforcer(self, schema: dict) -> Any:
        try:
            from lmformatenforcer import (CharacterLevelParserConfig, JsonSchemaParser, TokenEnforcer,
                                          TokenEnforcerTokenizerData)
        except ImportError:
            return None
        from logreasoner.lm.schema import untuple_schema

        tok = self._tok
        if self._tok_data is None:
            token_0 = tok.encode("0", add_special_tokens=False)[-1]
            special = set(tok.all_special_ids)
            regular = []
            self._digit_tokens, self._exponent_tokens = [], []
            for idx in range(len(tok)):
                if idx in special:
                    continue
                after0 = tok.decode([token_0, idx])[1:]
                plain = tok.decode([idx])
                if "\ufffd" in plain or any(not c.isprintable() and c not in " \t\n\r" for c in plain):
                    # a piece of a multi-byte character decodes to nothing the parser can count (a weak model
                    # could emit such tokens inside a string forever without reaching maxLength), and control
                    # characters are invalid inside JSON strings: neither is ever needed to write JSON
                    continue
                regular.append((idx, after0, len(after0) > len(plain)))
                if after0[:1].isdigit():
                    self._digit_tokens.append(idx)
                if after0.lstrip("0123456789")[:1] in ("e", "E", "."):
                    self._exponent_tokens.append(idx)
            eos = tok.eos_token_id
            self._tok_data = TokenEnforcerTokenizerData(
                regular, lambda ids: tok.decode(ids).rstrip("\ufffd"), eos, False, len(tok))
        # fields in the schema's order (as llama.cpp's grammar does: DSPy's reasoning fields come first) and at
        # most a few whitespace characters in a row, so a weak model cannot pad the output until max_tokens
        # (TokenEnforcer replaces the parser's config with one holding the tokenizer's alphabet: set ours after);
        # lm-format-enforcer reads one schema per list item: a tuple becomes a list of its items' union
        enforcer = TokenEnforcer(self._tok_data, JsonSchemaParser(untuple_schema(schema)))
        config: CharacterLevelParserConfig = enforcer.root_parser.config
        config.max_consecutive_whitespaces = 4
        config.force_json_field_order = True
        return enforcer

    def _generate(self, messages, *, schema, max_tokens, temperature, stop, seed, top_p):
        import torch

        model, tok = self._load()
        if getattr(tok, "chat_template", None):
            prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            prompt = "\n\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\n\nassistant: "
        enc = tok(prompt, return_tensors="pt", add_special_tokens=False)
        n_in = int(enc["input_ids"].shape[1])
        kwargs: dict[str, Any] = dict(max_new_tokens=max_tokens, pad_token_id=tok.pad_token_id or tok.eos_token_id)
        if temperature and temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=top_p or 1.0)
            if seed is not None:
                torch.manual_seed(seed)
        else:
            kwargs.update(do_sample=False)
        if schema is not None:
            enforcer = self._enforcer(schema)
            if enforcer is not None:
                from transformers import LogitsProcessorList

                kwargs["logits_processor"] = LogitsProcessorList(
                    [_SchemaProcessor(enforcer, self._digit_tokens, self._exponent_tokens)])
        if stop:
            kwargs["stop_strings"] = list(stop)
            kwargs["tokenizer"] = tok
        with torch.no_grad():
            out = model.generate(**enc, **kwargs)
        new = out[0][n_in:]
        text = tok.decode(new, skip_special_tokens=True)
        for s in stop or ():
            if s in text:
                text = text[: text.index(s)]
        n_out = int(new.shape[0])
        finish = "length" if n_out >= max_tokens else "stop"
        return text, n_in, n_out, finish

    def close(self) -> None:
        with self._lock:
            self._model = None
            self._tok_data = None
