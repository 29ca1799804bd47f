"""The student recipe's parts: experts for the free-text tasks, checkpoints inside a training stage, the lean
assistant-only loss, mining with the expert as corrector, shipping with a provenance card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from logreasoner.errors import ConfigError
from logreasoner.finetune.data import make_example
from logreasoner.finetune.experts_text import template_variables
from logreasoner.finetune.traces import expert_traces

ROWS = [
    {"messages": [{"role": "system", "content": "Decide."},
                  {"role": "user", "content": f"Log:\nL1 kernel panic {i}"},
                  {"role": "assistant", "content": '{"answer": {"verdict": "abnormal", "evidence_lines": [1]}}'}]}
    for i in range(8)
]


def test_template_variables_and_the_parse_expert():
    assert template_variables("Found block rdd_2_4 locally", "Found block <*> locally") == ["rdd_2_4"]
    assert template_variables("a b", "x <*>") is None
    ex = make_example("Connection from 10.0.0.1 port 22", "Connection from <*> port <*>", task="parse",
                      meta={"id": "p1"})
    (t,) = expert_traces([ex])
    assert t.answer == {"template": "Connection from <*> port <*>"}
    findings = " ".join(s.finding for s in t.steps)
    assert "'10.0.0.1'" in findings and "'22'" in findings
    assert t.plan.reasoning_steps[-1].startswith("Conclude")


def test_reference_experts_write_the_reference_into_the_answer_field():
    ref = "Free space on /var. Then restart the daemon. Check the disk alarms."
    sol = make_example("ERROR write failed: No space left on device", ref, task="rca",
                       meta={"id": "r1", "answer_field": "remediation"})
    cause = make_example("ERROR write failed: No space left on device", "The disk is full.", task="rca",
                         meta={"id": "r2"})
    interp = make_example("INFO session opened for user root", "A root session was opened.", task="interpret",
                          meta={"id": "i1"})
    a, b, c = expert_traces([sol, cause, interp])
    assert a.answer["remediation"] == ["Free space on /var.", "Then restart the daemon.", "Check the disk alarms."]
    assert b.answer == {"cause": "The disk is full.", "remediation": []}
    assert c.answer == {"explanation": "A root session was opened."}
    assert any("L1" in s.finding for s in b.steps)


def _dataset():
    from datasets import Dataset

    return Dataset.from_list(ROWS)


LORA = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]}
TRL = {"per_device_train_batch_size": 2, "learning_rate": 5e-3, "max_length": 512, "logging_steps": 1}


def test_a_killed_stage_resumes_from_its_last_checkpoint(tiny_student_dir, tmp_path):
    from logreasoner.finetune.sft import last_checkpoint, train_sft

    out = tmp_path / "sft"
    first = train_sft(_dataset(), out, student=str(tiny_student_dir), lora=LORA, threads=1, save_steps=1,
                      trl={**TRL, "max_steps": 2})
    assert first["resumed_from"] is None and last_checkpoint(out / "trainer").endswith("checkpoint-2")
    progress = json.loads((out / "progress.json").read_text())
    assert progress["step"] == 2 and progress["max_steps"] == 2 and progress["eta_s"] == 0
    # the same stage asked for more steps (as after a kill): it continues from step 2, not from scratch
    again = train_sft(_dataset(), out, student=str(tiny_student_dir), lora=LORA, threads=1, save_steps=1,
                      trl={**TRL, "max_steps": 4})
    assert again["resumed_from"].endswith("checkpoint-2") and again["steps"] == 4


def test_lean_loss_equals_trls_assistant_only_loss(tiny_student_dir, tmp_path):
    import torch
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from logreasoner.finetune.sft import lean_sft_trainer_class, trl_args
    from logreasoner.finetune.student import load_student

    losses = []
    for cls in (SFTTrainer, lean_sft_trainer_class()):
        torch.manual_seed(0)
        model, tok = load_student(str(tiny_student_dir))
        args = trl_args(SFTConfig, tmp_path / cls.__name__, {**TRL, "max_steps": 1}, device="cpu",
                        assistant_only_loss=True)
        tr = cls(model=model, args=args, train_dataset=_dataset(), processing_class=tok,
                 peft_config=LoraConfig(task_type="CAUSAL_LM", **LORA))
        batch = next(iter(tr.get_train_dataloader()))
        with torch.no_grad():
            losses.append(float(tr.compute_loss(tr.model, dict(batch))))
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)


def test_mining_with_the_expert_as_corrector():
    import dspy

    from logreasoner.finetune.config import ProgramConfig
    from logreasoner.finetune.mining import mine_pairs
    from logreasoner.lm.engine_base import LocalEngine

    class Student(LocalEngine):  # a grammar-constrained student that writes a poor cause
        def _generate(self, messages, *, schema, max_tokens, temperature, stop, seed, top_p):
            if "problem_overview" in json.dumps(schema):
                out = {"problem_overview": "o", "key_challenges": ["c"], "reasoning_steps": ["s"]}
            else:
                out = {"steps": [{"step": "s", "finding": "f", "evidence_lines": [1]}],
                       "answer": {"cause": "unknown", "remediation": []}}
            return json.dumps(out), 5, 5, "stop"

    lm = dspy.LM("local/student", engine=Student(), cache=False)
    exs = [make_example("ERROR write failed: No space left on device", "The disk is full.", task="rca",
                        meta={"id": f"r{i}"}) for i in range(3)]
    pairs, records = mine_pairs(exs, student_lm=lm, corrector_lm=lm, corrector="auto",
                                program_cfg=ProgramConfig(retriever="builtin", k=1), max_pairs=2)
    assert len(pairs) == 2 and len(records) == 2  # stopped at max_pairs
    chosen = json.loads(pairs[0]["chosen"][0]["content"])
    assert chosen["answer"]["cause"] == "The disk is full." and pairs[0]["corrected_by"] == "expert"
    assert "Log:" in pairs[0]["prompt"][-1]["content"]  # the compact prompt the student is asked with


def _fake_run(tmp_path: Path, dataset: str) -> Path:
    run = tmp_path / "run"
    (run / "data").mkdir(parents=True)
    (run / "adapter.gguf").write_bytes(b"lora" * 10)
    (run / "logreasoner_model.json").write_text(json.dumps(
        {"base": "local-base", "adapter": "adapter", "gguf_adapter": "adapter.gguf", "final_stage": "dpo"}))
    (run / "state.json").write_text(json.dumps({"stages": {"dpo": {"status": "done", "seconds": 3.0,
                                                                   "outputs": {"pairs": 7, "adapter": str(
                                                                       run.resolve() / "dpo" / "adapter")}}}}))
    (run / "data" / "stepwise.jsonl").write_text(json.dumps({"id": "x#expert", "dataset": dataset}) + "\n")
    return run


def test_ship_writes_the_adapter_and_its_card(tmp_path):
    from logreasoner.finetune.ship import ship_student

    recipe = tmp_path / "recipe.toml"
    recipe.write_text("seed = 0\n")
    card = ship_student(_fake_run(tmp_path, "bgl_anomaly"), tmp_path / "dest", recipe=recipe,
                        held_back={"bgl_anomaly": {"f1": 0.7}})
    assert (tmp_path / "dest" / "adapter.gguf").read_bytes() == b"lora" * 10
    assert json.loads((tmp_path / "dest" / "card.json").read_text())["held_back"]["bgl_anomaly"]["f1"] == 0.7
    assert card["sources"][0]["licence"].startswith("Loghub") and card["stage_figures"]["dpo"]["pairs"] == 7
    assert card["stage_figures"]["dpo"]["adapter"] == "dpo/adapter"  # no path of the machine that built it
    assert len(card["recipe_sha256"]) == 64


def test_a_shipped_card_takes_new_held_back_scores_without_its_run_folder(tmp_path):
    from logreasoner.errors import ConfigError
    from logreasoner.finetune.ship import rescore_card, ship_student

    dest = tmp_path / "dest"
    ship_student(_fake_run(tmp_path, "bgl_anomaly"), dest, held_back={
        "bgl_anomaly": {"direct": {"f1": 0.1}, "coarse_to_fine": {"f1": 0.5}}, "loghub_parse": {"direct": {"ga": 0.7}}})
    card = rescore_card(dest, {"bgl_anomaly": {"coarse_to_fine": {"f1": 0.6}},
                               "loghub_parse": {"batch_parse": {"ga": 0.97}}})
    assert card["held_back"]["bgl_anomaly"] == {"direct": {"f1": 0.1}, "coarse_to_fine": {"f1": 0.6}}
    assert card["held_back"]["loghub_parse"] == {"direct": {"ga": 0.7}, "batch_parse": {"ga": 0.97}}
    assert set(card["held_back_measured"]) == {"bgl_anomaly", "loghub_parse"}
    assert json.loads((dest / "card.json").read_text())["held_back"] == card["held_back"]
    with pytest.raises(ConfigError, match="no held-back scores"):
        rescore_card(dest, {})
    (dest / "adapter.gguf").write_bytes(b"another adapter")
    with pytest.raises(ConfigError, match="not the one its card describes"):
        rescore_card(dest, {"bgl_anomaly": {"direct": {"f1": 0.2}}})
    with pytest.raises(ConfigError, match="no card.json"):
        rescore_card(tmp_path / "nowhere", {"bgl_anomaly": {"direct": {"f1": 0.2}}})


def _cell(dataset, program, model, score, split="test"):
    return {"dataset": dataset, "program": program, "model": model, "split": split, "n": 100, "primary_metric": "f1",
            "score": score, "format_failure_rate": 0.0, "degenerate_rate": 0.07}


def test_held_back_scores_come_from_an_eval_runs_results(tmp_path):
    from logreasoner.finetune.ship import held_back_scores

    res = tmp_path / "results.json"
    res.write_text(json.dumps({"cells": [_cell("bgl_anomaly", "direct", "local", 0.12244),
                                         _cell("bgl_anomaly", "level", "-", 0.41)]}))
    assert held_back_scores(res) == {"bgl_anomaly": {"direct": {"f1": 0.1224, "n": 100, "format_failure_rate": 0.0,
                                                                "degenerate_rate": 0.07}}}  # baselines left out
    plain = tmp_path / "scores.json"
    plain.write_text(json.dumps({"bgl_anomaly": {"direct": {"f1": 0.5}}}))
    assert held_back_scores(plain) == {"bgl_anomaly": {"direct": {"f1": 0.5}}}
    res.write_text(json.dumps({"cells": [_cell("bgl_anomaly", "direct", "local", 0.1),
                                         _cell("bgl_anomaly", "direct", "runs/x", 0.3)]}))
    with pytest.raises(ConfigError, match="several models"):
        held_back_scores(res)
    assert held_back_scores(res, "runs/x")["bgl_anomaly"]["direct"]["f1"] == 0.3
    res.write_text(json.dumps({"cells": [_cell("bgl_anomaly", "direct", "local", 0.1, split="dev")]}))
    with pytest.raises(ConfigError, match="not held-back"):
        held_back_scores(res)


def test_held_back_tables_of_several_runs_join_and_a_cell_scored_twice_is_refused():
    from logreasoner.finetune.ship import merge_held_back

    a = {"bgl_anomaly": {"direct": {"f1": 0.1}, "coarse_to_fine": {"f1": 0.5}}}
    b = {"loglm_rca": {"direct": {"rouge_l": 0.25}}, "bgl_anomaly": {"cot": {"f1": 0.2}}}
    assert merge_held_back([("a", a), ("b", b)]) == {
        "bgl_anomaly": {"direct": {"f1": 0.1}, "coarse_to_fine": {"f1": 0.5}, "cot": {"f1": 0.2}},
        "loglm_rca": {"direct": {"rouge_l": 0.25}}}
    with pytest.raises(ConfigError, match="bgl_anomaly / direct is scored in both a and c"):
        merge_held_back([("a", a), ("c", {"bgl_anomaly": {"direct": {"f1": 0.3}}})])


def test_ship_refuses_a_student_trained_on_unshippable_data(tmp_path):
    from logreasoner.finetune.ship import ship_student

    with pytest.raises(ConfigError, match="may not be shipped"):
        ship_student(_fake_run(tmp_path, "bgl_templates_anomaly"), tmp_path / "dest")


@pytest.mark.parametrize("text,message", [
    ('[sft.trl]\nnum_train_epochs = "many"\n', "num_train_epochs = 'many' is not a valid SFTConfig"),
    ("[dpo.trl]\nwarmup_ratio = 0.1\n", "did you mean 'warmup_steps'"),
    ('[[sft.phases]]\nname = "a"\ndata = ["thought"]\n[sft.phases.trl]\nbf16 = "yes"\n', "sft.phases[a].trl"),
])
def test_trl_tables_are_checked_when_the_config_loads(tmp_path, text, message):
    from logreasoner.finetune.config import load_config

    p = tmp_path / "ft.toml"
    p.write_text('run_dir = "r"\n' + text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(p)


def test_a_config_that_is_not_utf8_is_a_clear_error(tmp_path):
    from logreasoner.finetune.config import load_config

    p = tmp_path / "ft.toml"
    p.write_bytes(b'run_dir = "\xff\xfe"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(p)


@pytest.mark.parametrize("name,prompt,prior", [("student.toml", "compact", 1.0), ("student-balanced.toml", "compact", 0.0)])
def test_the_recipes_load(name, prompt, prior):
    from logreasoner.finetune.config import load_config

    recipe = Path(__file__).resolve().parents[2] / "finetune" / "recipes" / name
    cfg = load_config(recipe)
    assert cfg.program.prompt == prompt and cfg.sft_data.kinds == ["thought", "stepwise", "direct", "cot"]
    assert cfg.sft_data.label_prior == prior
    assert sum(sum(v.values()) for v in cfg.sft_data.select.values()) >= 3000
    # 100 DPO pairs, 20 per task, keep the CPU recipe inside 2.5 h (200 would take ~2.7 h: benchmarks/STUDENT.md)
    assert cfg.mine.max_pairs >= 5 * cfg.mine.max_pairs_per_task >= 100 and cfg.student == "local-base"


def test_selection_by_dataset_keeps_a_rare_answer_of_near_duplicate_lines():
    from logreasoner.finetune.sft_data import select_rows

    rows = [{"task": "anomaly", "dataset": "bgl", "gold": "abnormal", "hinted": False,
             "text": f"KERNEL FATAL data TLB error interrupt node {i}"} for i in range(8)]
    rows += [{"task": "anomaly", "dataset": "bgl", "gold": "normal", "hinted": False,
              "text": f"INFO {w} generating core {i}"} for i, w in enumerate("abcdefghijklmnopqrst")]
    rows += [{"task": "anomaly", "dataset": "other", "gold": "abnormal", "hinted": False,
              "text": f"{w} alarm {w}{w} raised on board {w}"} for w in "uvwxyz"]
    by_task = select_rows(rows, {"anomaly": 12})
    by_dataset = select_rows(rows, {"bgl": 12, "other": 2}, by="dataset")
    alerts = lambda rs: sum(r["dataset"] == "bgl" and r["gold"] == "abnormal" for r in rs)  # noqa: E731
    assert alerts(by_dataset) == 6 and sum(r["dataset"] == "other" for r in by_dataset) == 2
    assert alerts(by_task) < alerts(by_dataset)  # the DPP alone drops near-duplicate alerts


def test_mining_caps_pairs_per_gold_answer():
    import dspy

    from logreasoner.finetune.config import ProgramConfig
    from logreasoner.finetune.mining import mine_pairs
    from logreasoner.lm.engine_base import LocalEngine

    class Alarmist(LocalEngine):  # answers 'abnormal' for everything: every normal line is a mistake
        def _generate(self, messages, *, schema, max_tokens, temperature, stop, seed, top_p):
            if "problem_overview" in json.dumps(schema):
                out = {"problem_overview": "o", "key_challenges": ["c"], "reasoning_steps": ["s"]}
            else:
                out = {"steps": [{"step": "s", "finding": "f", "evidence_lines": [1]}],
                       "answer": {"verdict": "abnormal", "evidence_lines": [1]}}
            return json.dumps(out), 5, 5, "stop"

    lm = dspy.LM("local/alarmist", engine=Alarmist(), cache=False)
    exs = [make_example(f"INFO job {i} finished", "normal", task="anomaly", meta={"id": f"n{i}"}) for i in range(4)]
    free, _ = mine_pairs(exs, student_lm=lm, corrector_lm=lm, corrector="expert",
                         program_cfg=ProgramConfig(retriever="builtin", k=1))
    capped, records = mine_pairs(exs, student_lm=lm, corrector_lm=lm, corrector="expert",
                                 program_cfg=ProgramConfig(retriever="builtin", k=1), max_pairs_per_answer=1)
    assert len(free) == 4 and len(capped) == 1 and capped[0]["gold"] == "normal"
    assert len(records) == 1  # the other normal examples were not run at all


def test_steps_that_conclude_another_label_are_a_contradiction():
    from logreasoner.finetune.mining import steps_contradict
    from logreasoner.contracts.answers import StepResult

    def step(finding):
        return [StepResult(step="read", finding="L1 is a kernel line"), StepResult(step="Conclude", finding=finding)]

    anomaly = ["normal", "abnormal"]
    assert steps_contradict(step("anomalous - abnormal: L1 signals a fault"), "normal", anomaly)
    assert not steps_contradict(step("abnormal: L1 signals a fault"), "abnormal", anomaly)
    assert not steps_contradict(step("normal: only routine lines"), "normal", anomaly)  # 'abnormal' is not 'normal'
    assert not steps_contradict(step("nothing decisive"), "normal", anomaly)
    alarms = ["EventTrap", "communicationsAlarm", "equipmentAlarm"]
    assert steps_contradict(step("a board left master: equipmentAlarm"), "EventTrap", alarms)
    assert not steps_contradict(step("equipmentAlarm? no: an EventTrap"), "EventTrap", alarms)


def test_self_correction_whose_steps_contradict_the_gold_gives_way_to_the_expert():
    import dspy

    from logreasoner.finetune.config import ProgramConfig
    from logreasoner.finetune.mining import mine_pairs, steps_contradict
    from logreasoner.lm.engine_base import LocalEngine
    from logreasoner.contracts.answers import StepResult

    class Stubborn(LocalEngine):  # steps always conclude 'abnormal'; the answer obeys whatever grammar it is given
        def _generate(self, messages, *, schema, max_tokens, temperature, stop, seed, top_p):
            text = json.dumps(schema)
            if "problem_overview" in text:
                out = {"problem_overview": "o", "key_challenges": ["c"], "reasoning_steps": ["s"]}
                return json.dumps(out), 5, 5, "stop"
            steps = [{"step": "Conclude", "finding": "abnormal: L1 signals a fault", "evidence_lines": [1]}]
            if "first_wrong_step" in text:  # the corrector: its answer type is narrowed to the gold 'normal'
                out = {"first_wrong_step": 1, "corrected_steps": steps,
                       "answer": {"verdict": "normal", "evidence_lines": []}}
            else:
                out = {"steps": steps, "answer": {"verdict": "abnormal", "evidence_lines": [1]}}
            return json.dumps(out), 5, 5, "stop"

    lm = dspy.LM("local/stubborn", engine=Stubborn(), cache=False)
    exs = [make_example("INFO job 1 finished", "normal", task="anomaly", meta={"id": "n1"})]
    pairs, records = mine_pairs(exs, student_lm=lm, corrector_lm=lm, corrector="auto",
                                program_cfg=ProgramConfig(retriever="builtin", k=1))
    assert records[0]["wrong"] and records[0]["replaced_self_correction"]
    chosen = json.loads(pairs[0]["chosen"][0]["content"])  # the expert's trace: steps and verdict agree
    assert chosen["answer"]["verdict"] == "normal" and pairs[0]["corrected_by"] == "expert"
    assert not steps_contradict([StepResult.model_validate(s) for s in chosen["steps"]], "normal",
                                ["normal", "abnormal"])
    rejected = json.loads(pairs[0]["rejected"][0]["content"])
    assert rejected["answer"]["verdict"] == "abnormal"


def test_label_prior_spreads_a_dataset_cap_from_even_to_the_data_prior():
    from logreasoner.finetune.sft_data import _answer_quotas, select_rows

    sizes = {"abnormal": 92, "normal": 608}
    assert _answer_quotas(sizes, 300) == {"abnormal": 92, "normal": 208}  # even, the rare answer keeps all
    assert _answer_quotas(sizes, 300, 1.0) == {"abnormal": 40, "normal": 260}  # the data's own 13%
    half = _answer_quotas(sizes, 300, 0.5)
    assert 40 < half["abnormal"] < 92 and sum(half.values()) == 300
    assert _answer_quotas({"x": 3, "y": 500}, 50, 1.0) == {"x": 1, "y": 49}  # a rare answer is never dropped
    rows = [{"task": "anomaly", "dataset": "d", "gold": g, "hinted": False, "text": f"{g} line {i} {i * 7}"}
            for g, n in (("abnormal", 10), ("normal", 30)) for i in range(n)]
    picked = select_rows(rows, {"d": 20}, by="dataset", label_prior=1.0)
    assert sum(r["gold"] == "abnormal" for r in picked) == 5 and len(picked) == 20


def test_settings_added_later_leave_older_runs_keys_unchanged():
    """label_prior (sft_data, phases) and a phase's own select stay out of the hashed dump while unset: a run made
    before they existed resumes instead of training again."""
    from logreasoner.finetune.config import SFTDataConfig, SFTPhase

    assert "label_prior" not in SFTDataConfig().model_dump(mode="json")
    assert SFTDataConfig(label_prior=0.5).model_dump(mode="json")["label_prior"] == 0.5
    dumped = SFTPhase(name="p", data=["thought"]).model_dump(mode="json")
    assert "select" not in dumped and "label_prior" not in dumped
