"""Every stage of the finetune pipeline on a tiny offline student with DummyLM teachers, asserting real effects:
dataset shapes and assistant masks, LoRA weights that move, a DPO margin that grows, a run folder that loads
as a model spec and answers."""

from __future__ import annotations

import json

import dspy
import pytest
from dspy.utils import DummyLM

from logreasoner.finetune.config import FinetuneConfig
from logreasoner.finetune.pipeline import Pipeline

PLAN = {"problem_overview": "Judge the lines", "key_challenges": ["severity words mislead"],
        "reasoning_steps": ["Look for failure words", "Decide normal or abnormal"]}


def _steps(verdict: str) -> dict:
    return {"steps": [{"step": "Look for failure words", "finding": f"L1 reads as {verdict}", "evidence_lines": [1]}],
            "answer": {"verdict": verdict, "evidence_lines": [1] if verdict == "abnormal" else []}}


def teacher_script() -> list[dict]:
    """LM teacher calls in order (planner, step) x samples, for the two anomaly examples it sees:
    a0 (abnormal): sample 0 wrong, sample 1 right -> one trace; a2 (normal): both samples wrong, the hinted
    re-ask right -> one hinted trace."""
    return [PLAN, _steps("normal"), PLAN, _steps("abnormal"),
            PLAN, _steps("abnormal"), PLAN, _steps("abnormal"), PLAN, _steps("normal")]


def corrector_answers(ft_data) -> dict:
    """Corrections keyed by a piece of each example's log (DummyLM returns the one whose key is in the prompt)."""
    out = {}
    for log, gold in ft_data.anomaly:
        out[log[:30]] = {"first_wrong_step": 1, "corrected_steps": [
            {"step": "Look for failure words", "finding": f"L1 shows the line is {gold}", "evidence_lines": [1]}],
            "answer": {"verdict": gold, "evidence_lines": [1] if gold == "abnormal" else []}}
    for log, gold in ft_data.diagnosis:
        out[log[:30]] = {"first_wrong_step": 1, "corrected_steps": [
            {"step": "Compare with each label", "finding": f"L1 fits {gold}", "evidence_lines": [1]}],
            "answer": {"label": gold}}
    return out


@pytest.fixture(scope="module")
def run(tiny_student_dir, tmp_path_factory, ft_data):
    tmp = tmp_path_factory.mktemp("ft-run")
    cfg = FinetuneConfig.model_validate({
        "run_dir": str(tmp / "run"), "student": str(tiny_student_dir), "threads": 1,
        "program": {"retriever": "builtin", "k": 1, "prompt": "compact-prefix"},
        "teacher": {"kind": "both", "model": "dummy", "samples": 2, "hint_samples": 1, "keep_per_example": 1},
        "sft_data": {"select": 3, "max_tokens": 4000},
        "sft": {"lora": {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]},
                "trl": {"num_train_epochs": 2, "per_device_train_batch_size": 2, "learning_rate": 5e-3,
                        "max_length": 4096}},
        "mine": {"max_tokens": 24},
        "dpo": {"measure_margin": True, "min_pairs": 1,
                "trl": {"num_train_epochs": 3, "per_device_train_batch_size": 2, "learning_rate": 2e-2,
                        "beta": 0.5, "max_length": 4096}},
        "eval": {"variants": ["base", "dpo"], "max_tokens": 24},
    })
    exs = ft_data.examples()
    anomaly_two = [exs[0], exs[2]]
    teacher = DummyLM(teacher_script(), adapter=dspy.JSONAdapter())
    corrector = DummyLM(corrector_answers(ft_data), adapter=dspy.JSONAdapter())
    # the LM teacher sees two anomaly examples; the experts write traces for all six
    p = Pipeline(cfg, train_examples=exs, test_examples=exs[:2], teacher_lm=teacher, corrector_lm=corrector,
                 progress=False)
    from logreasoner.finetune.traces import expert_traces, lm_traces, save_traces

    traces = expert_traces(exs, program_cfg=cfg.program) + lm_traces(
        anomaly_two, teacher, program_cfg=cfg.program, samples=2, hint_samples=1, keep_per_example=1)
    save_traces(traces, p.run_dir / "traces" / "traces.jsonl")
    out = {"traces": traces}
    out["sft-data"] = p.sft_data()
    out["sft"] = p.sft()
    out["mine"] = p.mine()
    out["dpo"] = p.dpo()
    out["export"] = p.export()
    out["eval"] = p.evaluate()
    return p, out


def test_lm_teacher_keeps_right_samples_and_marks_hinted(run):
    _, out = run
    lm = [t for t in out["traces"] if t.source.startswith("teacher:")]
    assert [(t.example_id, t.hinted, t.answer["verdict"]) for t in lm] == [("a0", False, "abnormal"),
                                                                           ("a2", True, "normal")]
    assert all("Hint" not in (t.question or "") for t in lm), "hints must never reach the training prompts"
    experts = [t for t in out["traces"] if t.source.startswith("expert:")]
    assert len(experts) == 6 and all(t.score == 1.0 for t in experts)


def test_sft_datasets_are_conversational_with_assistant_masks(run, tiny_student_dir):
    from datasets import load_from_disk

    from logreasoner.finetune.student import load_student_tokenizer

    p, out = run
    tok = load_student_tokenizer(str(tiny_student_dir))
    for kind in ("thought", "stepwise"):
        ds = load_from_disk(str(p.run_dir / "data" / kind))
        # DPP keeps at most 3 per task: anomaly has 6 traces (4 expert + 2 teacher), diagnosis 2
        assert out["sft-data"][kind]["per_task"] == {"anomaly": 3, "diagnosis": 2}
        assert len(ds) == 5
        row = ds[0]
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        enc = tok.apply_chat_template(row["messages"], tokenize=True, return_dict=True,
                                      return_assistant_tokens_mask=True)
        ids, mask = enc["input_ids"], enc["assistant_masks"]
        trained = tok.decode([i for i, m in zip(ids, mask) if m])
        assert trained == row["messages"][2]["content"] + "<|im_end|>"
        assert 0 < sum(mask) < len(ids) / 2
        reply = json.loads(row["messages"][2]["content"])
        assert list(reply) == (["problem_overview", "key_challenges", "reasoning_steps"] if kind == "thought"
                               else ["steps", "answer"])


def test_sft_moves_the_adapter_weights(run):
    p, out = run
    for phase in ("thought", "stepwise"):
        m = out["sft"][phase]
        assert m["steps"] >= 2 and m["lora_max_change"] > 1e-4
        assert (p.run_dir / f"sft-{phase}" / "adapter" / "adapter_model.safetensors").is_file()
    assert out["sft"]["stepwise"]["loss_last"] < out["sft"]["stepwise"]["loss_first"] * 1.5


def test_mining_pairs_and_dpo_margin_grows(run):
    p, out = run
    mine = out["mine"]
    assert mine["examples"] == 6 and mine["pairs"] >= 1 and mine["pairs"] == mine["corrected"]
    pair = json.loads((p.run_dir / "mine" / "pairs.jsonl").read_text().splitlines()[0])
    assert [m["role"] for m in pair["prompt"]] == ["system", "user"]
    assert pair["chosen"][0]["content"] != pair["rejected"][0]["content"]
    dpo = out["dpo"]
    assert not dpo.get("skipped")
    assert dpo["margin_after"] > dpo["margin_before"] + 1e-3
    assert dpo["lora_max_change"] > 1e-4


def test_run_loads_as_a_model_spec_and_answers(run):
    from logreasoner.lm import engine_of, load_lm

    p, out = run
    manifest = json.loads((p.run_dir / "logreasoner_model.json").read_text())
    assert manifest["adapter"] == "adapter" and manifest["final_stage"] == "dpo" and manifest["backend"] == "hf"
    lm = load_lm(str(p.run_dir), max_tokens=8)
    assert engine_of(lm).adapter.endswith("adapter")
    # the run's prompt layout travels in the manifest: the programs ask the student as it was trained
    assert manifest["program"]["prompt"] == "compact-prefix" and engine_of(lm).prompt_layout == "compact-prefix"
    reply = lm(messages=[{"role": "user", "content": "Is this line normal? L1 kernel panic"}])
    assert isinstance(reply[0], str) and reply[0]


def test_eval_scores_each_variant_and_state_resumes(run):
    p, out = run
    for variant in ("base", "dpo"):
        res = out["eval"][variant]
        assert res["anomaly"]["n"] == 2 and 0.0 <= res["anomaly"]["score"] <= 1.0
        assert 0.0 <= res["anomaly"]["format_failure_rate"] <= 1.0
    state = json.loads((p.run_dir / "state.json").read_text())["stages"]
    for name in ("sft-data", "sft:thought", "sft:stepwise", "mine", "dpo", "export", "eval:base"):
        assert state[name]["status"] == "done" and state[name]["seconds"] >= 0 and state[name]["peak_rss_mb"] > 0
    before = state["sft:thought"]["finished"]
    p2 = Pipeline(p.cfg, train_examples=p._train, test_examples=p._test, progress=False)
    p2.sft()  # nothing changed: both phases are skipped
    assert json.loads((p.run_dir / "state.json").read_text())["stages"]["sft:thought"]["finished"] == before


def test_final_adapter_skips_a_dpo_adapter_older_than_the_last_sft(run, tmp_path):
    p, _ = run
    cfg = p.cfg.model_copy(update={"run_dir": tmp_path})
    stages = {"sft:thought": {"status": "done", "finished": "2026-01-01T10:00:00+00:00"},
              "sft:stepwise": {"status": "done", "finished": "2026-01-01T11:00:00+00:00"},
              "dpo": {"status": "done", "started": "2026-01-01T11:05:00+00:00", "outputs": {"pairs": 3}}}
    (tmp_path / "state.json").write_text(json.dumps({"stages": stages}))
    fresh = Pipeline(cfg, train_examples=p._train, test_examples=p._test, progress=False)
    assert fresh.dpo_is_current() and fresh.final_adapter()[1] == "dpo"
    stages["sft:stepwise"]["finished"] = "2026-01-01T12:00:00+00:00"  # SFT ran again after that DPO
    (tmp_path / "state.json").write_text(json.dumps({"stages": stages}))
    stale = Pipeline(cfg, train_examples=p._train, test_examples=p._test, progress=False)
    assert not stale.dpo_is_current()
    assert stale.final_adapter() == (tmp_path / "sft-stepwise" / "adapter", "sft-stepwise")


def test_a_phase_with_its_own_rows_trains_on_the_datasets_it_names(run):
    """A third phase drawing its own rows (anomaly only, at the data's label prior) continues the stepwise adapter
    and leaves the phases before it as they were."""
    from datasets import load_from_disk

    from logreasoner.finetune.config import SFTPhase

    p, _ = run
    state_file = p.run_dir / "state.json"
    before = {k: v["finished"] for k, v in json.loads(state_file.read_text())["stages"].items()
              if k.startswith("sft:")}
    phases = [*p.cfg.sft.phases, SFTPhase(name="labels", data=["direct", "thought"], label_prior=1.0,
                                          select={"direct": {"anomaly": 2, "diagnosis": 1}, "thought": {"anomaly": 1}})]
    cfg = p.cfg.model_copy(update={"sft": p.cfg.sft.model_copy(update={"phases": phases})})
    p2 = Pipeline(cfg, train_examples=p._train, test_examples=p._test, progress=False)
    out = p2.sft("labels")["labels"]
    # a task one kind does not name (diagnosis, for thought) gets none of its rows
    assert out["data"]["direct"]["per_task"] == {"anomaly": 2, "diagnosis": 1}
    assert out["data"]["thought"]["per_task"] == {"anomaly": 1}
    rows = load_from_disk(str(p.run_dir / "sft-labels" / "data" / "direct"))
    assert set(rows["task"]) == {"anomaly", "diagnosis"}
    assert (p.run_dir / "sft-labels" / "adapter" / "adapter_config.json").is_file()
    stages = json.loads(state_file.read_text())["stages"]
    assert {k: stages[k]["finished"] for k in before} == before and stages["sft:labels"]["status"] == "done"
    assert p2.last_sft_adapter() == p.run_dir / "sft-labels" / "adapter"


@pytest.mark.parametrize("phase, problem", [
    ({"name": "x", "data": ["direct"], "select": {"thought": {"a": 1}}}, "exactly its data kinds"),
    ({"name": "x", "data": ["direct"], "label_prior": 1.0}, "needs the phase's own rows"),
    ({"name": "x", "data": ["direct"], "select": {"direct": {"a": 1}}, "label_prior": 2.0}, "less than or equal"),
])
def test_a_phase_with_own_rows_is_checked_on_creation(phase, problem):
    from pydantic import ValidationError

    from logreasoner.finetune.config import SFTPhase

    with pytest.raises(ValidationError, match=problem):
        SFTPhase.model_validate(phase)
