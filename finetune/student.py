"""The student: a small model loaded into transformers for training, from a HF folder or the embedded GGUF.

Loading a GGUF into transformers dequantises it to fp32 (27 s for SmolLM2-135M on 2 cores); the first load saves
the result once as a Hugging Face folder in the cache (``<cache_dir>/hf/<name>-<sha12>``), and later loads take
about a second. transformers 5 keeps a ``GgufHfQuantizer`` on GGUF-loaded models although the weights are dense,
and then refuses to save or train them: it is removed right after loading.

The tokenizer gets a training chat template with ``{% generation %}`` markers when its own lacks them (TRL's
assistant-only loss needs them). For ChatML models (SmolLM2) the template renders prompts byte for byte like the
model's own, so what is trained is what llama.cpp and transformers prompt at run time.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from logreasoner.errors import ModelUnavailableError

__all__ = [
    "CHATML_TRAINING_TEMPLATE",
    "resolve_student",
    "student_hf_dir",
    "load_student",
    "load_student_tokenizer",
    "ensure_training_template",
    "has_generation_markers",
]

_CHATML_TURN = (
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endif %}"
)
_GENERATION_PROMPT = "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"

# SmolLM2's own ChatML template, with the assistant's content and its end-of-turn token inside {% generation %}.
CHATML_TRAINING_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}" + _CHATML_TURN + "{% endfor %}" + _GENERATION_PROMPT
)

# A generic ChatML template (no default system prompt) for tokenizers that have none.
_CHATML_GENERIC = "{% for message in messages %}" + _CHATML_TURN + "{% endfor %}" + _GENERATION_PROMPT


def has_generation_markers(template: Any) -> bool:
    if isinstance(template, dict):
        template = template.get("default", "")
    return bool(template) and re.search(r"\{%-?\s*generation\s*-?%\}", str(template)) is not None


def _is_chatml(tokenizer: Any) -> bool:
    tpl = str(getattr(tokenizer, "chat_template", "") or "")
    return "<|im_start|>" in tpl or "<|im_start|>" in (tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {})


def ensure_training_template(tokenizer: Any) -> Any:
    """Give the tokenizer a chat template with ``{% generation %}`` markers (in place), keeping prompts identical.

    ChatML tokenizers get :data:`CHATML_TRAINING_TEMPLATE` (SmolLM2's template with markers) when their template
    renders the same prompts; other templates must carry the markers already (raise with a hint otherwise).
    """
    tpl = getattr(tokenizer, "chat_template", None)
    if has_generation_markers(tpl):
        return tokenizer
    if not _is_chatml(tokenizer):
        raise ModelUnavailableError(
            "the student's chat template has no {% generation %} markers and is not ChatML",
            "set tokenizer.chat_template to a template with {% generation %}...{% endgeneration %} around the "
            "assistant's content and end-of-turn token (TRL's get_training_chat_template covers many families)",
        )
    candidate = CHATML_TRAINING_TEMPLATE if (not tpl or "SmolLM" in str(tpl)) else _CHATML_GENERIC
    if tpl:
        probe = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                 {"role": "assistant", "content": "a"}, {"role": "user", "content": "v"}]
        old = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True)
        tokenizer.chat_template = candidate
        new = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True)
        if old != new:
            tokenizer.chat_template = candidate = _CHATML_GENERIC
            new = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True)
            if old != new:
                tokenizer.chat_template = tpl
                raise ModelUnavailableError(
                    "could not add {% generation %} markers to the student's ChatML template without changing its prompts",
                    "set tokenizer.chat_template yourself to the model's template with generation markers",
                )
    tokenizer.chat_template = candidate
    return tokenizer


def resolve_student(spec: str) -> tuple[Path, str | None]:
    """A student spec -> (HF folder, None) or (folder holding the GGUF, GGUF file name).

    ``spec`` is ``local`` (or another embedded name, ``@q4_0`` for its Q4_0 conversion), a ``.gguf`` file, or a
    Hugging Face model folder.
    """
    from logreasoner.lm.registry import EMBEDDED_MODELS, MODEL_ALIASES
    from logreasoner.lm.runtime_weights import embedded_weights
    from logreasoner.lm.spec import parse_spec

    s = str(spec).strip()
    for prefix in ("hf:", "llamacpp:", "local:"):
        if s.startswith(prefix):
            s = s[len(prefix):]
    name = s.rpartition("@")[0] or s
    if name in MODEL_ALIASES or name in EMBEDDED_MODELS:  # local-base, local-base@q4_0 (that format's weights)
        p = embedded_weights(name, parse_spec(s).weights)
        return p.parent, p.name
    p = Path(s).expanduser()
    if p.is_file() and p.suffix.lower() == ".gguf":
        return p.parent, p.name
    if p.is_dir() and (p / "config.json").is_file():
        return p, None
    if p.is_dir():
        ggufs = sorted(p.glob("*.gguf"))
        if len(ggufs) == 1:
            return p, ggufs[0].name
    raise ModelUnavailableError(
        f"cannot use {spec!r} as a student model",
        "pass 'local', a .gguf file, or a Hugging Face model folder (with config.json)",
    )


def student_hf_dir(spec: str, cache_dir: Path | None = None) -> Path:
    """Where the student lives as a HF folder: the folder itself, or the cached conversion of its GGUF
    (``<cache_dir>/hf/<stem>-<size>``, the folder the transformers engine of ``logreasoner.lm`` uses too)."""
    folder, gguf = resolve_student(spec)
    if gguf is None:
        return folder
    from logreasoner.settings import get_settings

    gguf_path = folder / gguf
    base = Path(cache_dir) if cache_dir else get_settings().cache_dir
    return base / "hf" / f"{gguf_path.stem}-{gguf_path.stat().st_size}"


def _convert_gguf(folder: Path, gguf: str, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=gguf)
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)  # dense fp32 weights: drop the GGUF "quantizer"
    tok = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    from logreasoner.lm.registry import sha256_file

    (tmp / "SOURCE").write_text(f"{folder / gguf}\n{sha256_file(folder / gguf)}\n")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


def load_student_tokenizer(spec: str, *, training_template: bool = True, cache_dir: Path | None = None) -> Any:
    """The student's tokenizer (from its HF folder or the cached GGUF conversion), pad token set."""
    from transformers import AutoTokenizer

    path = ensure_student_folder(spec, cache_dir=cache_dir)
    tok = AutoTokenizer.from_pretrained(str(path))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if training_template:
        ensure_training_template(tok)
    return tok


def ensure_student_folder(spec: str, *, cache_dir: Path | None = None) -> Path:
    """The student as a HF folder, converting its GGUF once (27 s for SmolLM2) if needed."""
    folder, gguf = resolve_student(spec)
    if gguf is None:
        return folder
    target = student_hf_dir(spec, cache_dir=cache_dir)
    if not (target / "config.json").is_file():
        try:
            _convert_gguf(folder, gguf, target)
        except ImportError as e:
            raise ModelUnavailableError(f"cannot load the GGUF into transformers: {e}",
                                        "pip install 'logreasoner[finetune]'") from None
    return target


def load_student(spec: str = "local", *, adapter: str | Path | None = None, trainable: bool = False,
                 training_template: bool = True, cache_dir: Path | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) of the student in fp32 on the CPU, optionally with a PEFT adapter on top.

    Args:
        spec: ``local`` (embedded SmolLM2), a ``.gguf`` file or a HF folder.
        adapter: a PEFT adapter folder to load on top of the model.
        trainable: load the adapter's weights as trainable (to continue training it).
        training_template: give the tokenizer a chat template with ``{% generation %}`` markers.
    """
    import torch
    from transformers import AutoModelForCausalLM

    path = ensure_student_folder(spec, cache_dir=cache_dir)
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
    tok = load_student_tokenizer(spec, training_template=training_template, cache_dir=cache_dir)
    if adapter is not None:
        from peft import PeftModel

        if not (Path(adapter) / "adapter_config.json").is_file():
            raise ModelUnavailableError(f"{adapter} is not a PEFT adapter folder",
                                        "pass the folder that holds adapter_config.json")
        model = PeftModel.from_pretrained(model, str(adapter), is_trainable=trainable)
    return model, tok
