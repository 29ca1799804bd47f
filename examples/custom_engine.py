"""A custom in-process engine in one place: register it, then name it in any model spec (`<engine>:<model>`).

This one is llama.cpp with a repetition penalty: a tiny model that repeats list items or loops inside a string
is nudged away from tokens it has just written. `register_engine` is the only thing to touch: `load_lm`, the
CLI (`--model llamacpp-rp:local`), the evals runner and scale (which ask `serial` whether to run requests in
threads) all find it there. A wholly new backend is the same call with a factory that returns your
`logreasoner.lm.engine_base.LocalEngine` subclass (it implements `_generate`).
"""

from logreasoner.lm import EngineInfo, register_engine

REPEAT_PENALTY = 1.15


def penalised_llamacpp(path, *, adapter=None, constrained=True, chat_format=None, n_ctx=8192, threads=None):
    """llama.cpp over the GGUF at ``path`` (and a GGUF LoRA ``adapter``) with a repetition penalty."""
    from logreasoner.lm.llamacpp import LlamaCppEngine

    return LlamaCppEngine(path, lora_path=adapter, constrained=constrained, chat_format=chat_format, n_ctx=n_ctx,
                          n_threads=threads, repeat_penalty=REPEAT_PENALTY)


ENGINE = register_engine(
    EngineInfo("llamacpp-rp", penalised_llamacpp, serial=True, modules=("llama_cpp",),
               install="pip install 'logreasoner[local]'", adapters=("gguf",)),
    replace=True,
)

if __name__ == "__main__":
    from logreasoner import analyze

    text = "Jan 1 10:00:01 host sshd[42]: Failed password for root from 10.0.0.9 port 22 ssh2"
    print(analyze(text=text, task="anomaly", model="llamacpp-rp:local", program="direct").model_dump_json(indent=2))
