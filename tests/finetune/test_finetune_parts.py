"""The finetune building blocks on their own: config, data, experts, prompt formatting, DPP, corrector, GGUF LoRA."""

from __future__ import annotations

import json

import dspy
import pytest
from dspy.utils import DummyLM

from logreasoner.errors import ConfigError
from logreasoner.finetune.config import load_config
from logreasoner.finetune.data import balanced_sample, load_examples, make_example
from logreasoner.finetune.experts import AnomalyExpert, DiagnosisExpert, compact_plan, method_plans, shorten_step
from logreasoner.programs import InMemoryRetriever, build_program, builtin_plans
from logreasoner.contracts.retrieval import ExpertPlan


def test_config_from_toml_passes_trl_tables_through(tmp_path):
    p = tmp_path / "ft.toml"
    p.write_text('run_dir = "out"\n[[datasets]]\npath = "d.jsonl"\ntask = "anomaly"\n'
                 '[sft.trl]\nmax_steps = 3\nlearning_rate = 0.01\n[dpo.trl]\nbeta = 0.3\n')
    cfg = load_config(p)
    assert cfg.run_dir == (tmp_path / "out").resolve()
    assert cfg.datasets[0].path == str((tmp_path / "d.jsonl").resolve())
    assert cfg.sft.trl == {"max_steps": 3, "learning_rate": 0.01} and cfg.dpo.trl == {"beta": 0.3}
    assert [ph.name for ph in cfg.sft.phases] == ["thought", "stepwise"]


@pytest.mark.parametrize("body, where", [
    ('[[datasets]]\nname = "x"\npath = "y.jsonl"\n', "datasets"),
    ('[teacher]\nkind = "lm"\n', "teacher"),
    ('[sft]\nunknown = 1\n', "sft.unknown"),
])
def test_bad_configs_say_where(tmp_path, body, where):
    p = tmp_path / "ft.toml"
    p.write_text(body)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert where in e.value.message


def test_jsonl_split_is_seeded_disjoint_and_balanced(tmp_path):
    rows = [{"text": f"line {i} {'failed' if i % 4 == 0 else 'ok'}", "y": "abnormal" if i % 4 == 0 else "normal"}
            for i in range(200)]
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    cfg = load_config(None, datasets=[{"path": str(path), "task": "anomaly", "log_field": "text",
                                       "answer_field": "y", "test_fraction": 0.25}]).datasets[0]
    train, test = load_examples(cfg, "train", seed=1), load_examples(cfg, "test", seed=1)
    assert len(train) + len(test) == 200 and 20 < len(test) < 80
    assert not {e.log for e in train} & {e.log for e in test}
    assert [e.log for e in load_examples(cfg, "test", seed=1)] == [e.log for e in test]
    sample = balanced_sample(train, 20, seed=0)
    assert sorted(e.answer for e in sample).count("abnormal") == 10


def test_anomaly_expert_follows_the_flowchart_path_the_facts_take():
    program = build_program("coarse_to_fine", "anomaly", retriever=InMemoryRetriever(builtin_plans()))
    ex = program._excerpt("ciod: failed to read message prefix on control stream", None)
    sol = AnomalyExpert().solve(ex, "abnormal", plans=method_plans(program.task, program.retriever))
    assert sol.answer == {"verdict": "abnormal", "evidence_lines": [1]}
    text = " ".join(s.finding for s in sol.steps)
    assert "'failed' (L1)" in text and sol.steps[-1].finding.startswith("abnormal")
    # a thought store path: decisions are answered from the facts, the agreeing template is chosen
    paths = [
        ExpertPlan(id="p-bad", reasoning_steps=["Check: read", "Decide: Does a line match a known failure signature "
                   "- fatal? -> yes", "Decide: Is that signature known to be benign here? -> no", "Conclude: anomalous"]),
        ExpertPlan(id="p-benign", reasoning_steps=["Check: read", "Decide: Does a line match a known failure "
                   "signature? -> yes", "Decide: Is that signature known to be benign here? -> yes", "Conclude: normal"]),
        ExpertPlan(id="p-none", reasoning_steps=["Check: read", "Decide: Does a line match a known failure "
                   "signature? -> no", "Conclude: normal"]),
    ]
    assert AnomalyExpert().solve(ex, "normal", plans=paths).template_id == "p-benign"
    assert AnomalyExpert().solve(ex, "abnormal", plans=paths).template_id == "p-bad"
    quiet = program._excerpt("generating core.1234", None)
    assert AnomalyExpert().solve(quiet, "normal", plans=paths).template_id == "p-none"


def test_diagnosis_expert_uses_shared_words_and_the_gold_label():
    program = build_program("coarse_to_fine", "diagnosis", retriever=InMemoryRetriever(builtin_plans()))
    ex = program._excerpt("Processor CPU0 Status | IERR | Asserted", None)
    labels = ["Processor CPU Caterr", "Memory Throttled", "Management port down"]
    sol = DiagnosisExpert().solve(ex, "Processor CPU Caterr", labels=labels,
                                  plans=method_plans(program.task, program.retriever))
    assert sol.answer == {"label": "Processor CPU Caterr"}
    assert any("processor" in s.finding for s in sol.steps)
    with pytest.raises(ValueError):
        DiagnosisExpert().solve(ex, "x", labels=None, plans=method_plans(program.task, program.retriever))


def test_plans_are_shortened_not_invented():
    step = "Decide: Does a line match a known failure signature of this system - fatal interrupt, exception? -> yes"
    assert shorten_step(step).endswith("-> yes") and len(shorten_step(step)) <= 90
    p = compact_plan(ExpertPlan(id="x", problem_overview="Method. Symptom: a line must be judged. Rest.",
                                key_challenges=["Is it benign? (branches: yes / no)"],
                                reasoning_steps=["Check: the level - FATAL or ERROR"]))
    assert p.problem_overview == "A line must be judged" and p.key_challenges == ["Is it benign?"]
    assert p.reasoning_steps == ["Check: the level"]


@pytest.mark.parametrize("prompt", ["compact", "compact-prefix", "json"])
def test_training_messages_are_the_programs_own_prompts(prompt):
    """The SFT prompts (planner and step reasoner) equal what the program sends at run time under the same
    adapter (captured from a DummyLM call)."""
    from logreasoner.finetune.formatting import (
        adapter_for,
        make_program,
        planner_messages,
        program_context,
        step_messages,
    )
    from logreasoner.finetune.config import ProgramConfig
    from logreasoner.contracts.answers import Plan

    cfg = ProgramConfig(retriever="builtin", k=1, prompt=prompt)
    adapter = adapter_for(cfg)
    program = make_program("diagnosis", cfg)
    labels = ["port down", "CPU Caterr", "VM startup failure"]
    lm = DummyLM([{"problem_overview": "o", "key_challenges": ["c"], "reasoning_steps": ["s1", "s2"]},
                  {"steps": [{"step": "s1", "finding": "f", "evidence_lines": [1]}], "answer": {"label": "port down"}}],
                 adapter=adapter)
    with dspy.context(lm=lm, adapter=adapter):
        pred = program(log="eth0 link down", question="which?", labels=labels)
    assert pred.answer.label == "port down"
    planner_sent, step_sent = lm.history[-2]["messages"], lm.history[-1]["messages"]
    excerpt, plans = program_context(program, "eth0 link down", "which?", adapter)
    assert planner_messages(program, excerpt_text=excerpt.text, expert_plans=plans, question="which?",
                            adapter=adapter) == planner_sent
    ours = step_messages(program, excerpt_text=excerpt.text, plan=Plan(problem_overview="o", key_challenges=["c"],
                         reasoning_steps=["s1", "s2"]), question="which?", labels=labels, adapter=adapter)
    assert ours == step_sent
    if prompt.startswith("compact"):  # no schema text; the label set is shown once
        text = "\n".join(m["content"] for m in ours)
        assert "Labels: port down | CPU Caterr | VM startup failure" in text
        assert "json_schema" not in text and "Your input fields" not in text and "[[ ##" not in text
        # the stage's instruction: the system turn ('compact') or the last paragraph ('compact-prefix')
        assert (ours[0]["content"].startswith("Carry out the plan")) == (prompt == "compact")
        assert ours[-1]["content"].split("\n\n")[-1].startswith("Task: Carry out") == (prompt == "compact-prefix")


def test_dpp_prefers_diverse_rows():
    from logreasoner.finetune.diversity import select_diverse

    texts = ["disk failure on sda", "disk failure on sda", "disk failure on sdb", "kernel panic in scheduler",
             "user login accepted"]
    idx = select_diverse(texts, 3)
    assert len(idx) == 3 and len({texts[i] for i in idx}) == 3
    assert {3, 4} <= set(idx)


def test_corrector_keeps_steps_before_the_first_wrong_one():
    from logreasoner.contracts.answers import StepResult
    from logreasoner.programs.corrector import Corrector

    wrong = [StepResult(step="a", finding="fine", evidence_lines=[1]),
             StepResult(step="b", finding="wrong", evidence_lines=[])]
    lm = DummyLM([{"first_wrong_step": 2, "corrected_steps": [{"step": "b", "finding": "L1 failed", "evidence_lines": [1]}],
                   "answer": {"verdict": "abnormal", "evidence_lines": [1]}}], adapter=dspy.JSONAdapter())
    with dspy.context(lm=lm):
        out = Corrector("anomaly")(log_excerpt="L1 x failed", plan="1. a\n2. b", gold="abnormal", wrong_steps=wrong,
                                   wrong_answer={"verdict": "normal", "evidence_lines": []})
    assert [s.finding for s in out.steps] == ["fine", "L1 failed"] and out.answer.verdict == "abnormal"
    assert out.first_wrong_step == 2
    # constrain_gold narrows the answer type to the gold label: the schema the model is held to says so
    sig = Corrector("anomaly")._signature("abnormal", None)
    verdict = sig.output_fields["answer"].annotation.model_json_schema()["properties"]["verdict"]
    assert verdict.get("enum", [verdict.get("const")]) == ["abnormal"]


def test_gguf_lora_export_maps_and_permutes(tmp_path, tiny_student_dir):
    import gguf
    import numpy as np
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from logreasoner.finetune.gguf_lora import export_gguf_lora, permute_rows

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(tiny_student_dir)),
                           LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "k_proj", "down_proj"]))
    for n, p in model.named_parameters():
        if "lora_B" in n:
            p.data.normal_()
    model.save_pretrained(str(tmp_path / "ad"))
    out = export_gguf_lora(tmp_path / "ad", tmp_path / "ad.gguf", base_config=tiny_student_dir)
    r = gguf.GGUFReader(str(out))
    names = {t.name: t for t in r.tensors}
    assert len(names) == 2 * 3 * 2  # 2 layers x 3 modules x (a, b)
    assert r.fields["adapter.lora.alpha"].parts[-1][0] == 4.0
    b = model.base_model.model.model.layers[0].self_attn.q_proj.lora_B["default"].weight.detach().numpy()
    got = np.array(names["blk.0.attn_q.weight.lora_b"].data).reshape(b.shape)
    assert np.allclose(got, permute_rows(b, 2)) and not np.allclose(got, b)
    a = model.base_model.model.model.layers[1].mlp.down_proj.lora_A["default"].weight.detach().numpy()
    assert np.allclose(np.array(names["blk.1.ffn_down.weight.lora_a"].data).reshape(a.shape), a)


def test_a_gguf_lora_imports_back_to_the_peft_adapter_it_was_exported_from(tmp_path, tiny_student_dir):
    import numpy as np
    import pytest
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    from logreasoner.errors import ModelUnavailableError
    from logreasoner.finetune.gguf_lora import export_gguf_lora, import_gguf_lora

    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(tiny_student_dir)),
                           LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "k_proj", "v_proj", "up_proj"],
                                      layers_to_transform=[1]))
    for n, p in model.named_parameters():
        if "lora_B" in n:
            p.data.normal_()
    model.save_pretrained(str(tmp_path / "ad"))
    export_gguf_lora(tmp_path / "ad", tmp_path / "ad.gguf", base_config=tiny_student_dir)
    back = import_gguf_lora(tmp_path / "ad.gguf", tmp_path / "back", base_config=tiny_student_dir)
    cfg = json.loads((back / "adapter_config.json").read_text())
    assert cfg["r"] == 2 and cfg["lora_alpha"] == 4.0 and cfg["layers_to_transform"] == [1]
    assert cfg["target_modules"] == ["k_proj", "q_proj", "up_proj", "v_proj"]
    # the same weights (q/k rows back in Hugging Face's order): the same logits as the adapter exported
    ids = torch.tensor([[1, 5, 9, 3, 7]])
    want = model(input_ids=ids).logits
    again = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_student_dir)), str(back))
    assert torch.allclose(again(input_ids=ids).logits, want, atol=1e-5)
    assert not torch.allclose(AutoModelForCausalLM.from_pretrained(str(tiny_student_dir))(input_ids=ids).logits,
                              want, atol=1e-3)  # the adapter changes the output: the check can fail
    # and it round-trips to the same GGUF tensors
    export_gguf_lora(back, tmp_path / "again.gguf", base_config=tiny_student_dir)
    import gguf

    one = {t.name: np.array(t.data) for t in gguf.GGUFReader(str(tmp_path / "ad.gguf")).tensors}
    two = {t.name: np.array(t.data) for t in gguf.GGUFReader(str(tmp_path / "again.gguf")).tensors}
    assert one.keys() == two.keys() and all(np.allclose(one[k], two[k]) for k in one)
    with pytest.raises(ModelUnavailableError, match="no GGUF adapter"):
        import_gguf_lora(tmp_path / "missing.gguf", tmp_path / "x", base_config=tiny_student_dir)


def test_make_example_shape():
    ex = make_example("L", "normal", task="anomaly")
    assert set(ex.inputs().keys()) == {"log", "question", "labels"} and ex.answer == "normal"
