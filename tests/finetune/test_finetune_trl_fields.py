"""``[sft.trl]`` / ``[dpo.trl]`` checked against TRL's config classes whenever a FinetuneConfig is built (from TOML
or from Python), and skipped without TRL. (The shipped recipe loads through them: test_finetune_student.)"""

from __future__ import annotations

import sys

import pytest

from logreasoner.errors import ConfigError
from logreasoner.finetune import trl_fields
from logreasoner.finetune.config import FinetuneConfig

pytest.importorskip("trl")


def test_good_keys_pass_through():
    cfg = FinetuneConfig.model_validate({
        "sft": {"trl": {"learning_rate": 1e-3, "lr_scheduler_type": "cosine", "max_length": 512, "bf16": True},
                "phases": [{"name": "a", "data": ["thought"], "trl": {"num_train_epochs": 2}}]},
        "dpo": {"trl": {"beta": 0.2, "max_length": 1024}}})
    assert cfg.sft.trl["lr_scheduler_type"] == "cosine" and cfg.dpo.trl == {"beta": 0.2, "max_length": 1024}


def test_a_bad_key_is_named_with_close_matches_when_the_config_is_built():
    with pytest.raises(ConfigError) as e:
        FinetuneConfig.model_validate({"sft": {"trl": {"learning_rat": 1e-3}}})
    assert e.value.message == "[sft.trl] has no setting 'learning_rat' in TRL's SFTConfig"
    assert e.value.hint.startswith("did you mean 'learning_rate'")
    with pytest.raises(ConfigError, match=r"\[dpo.trl\] has no setting 'bta' in TRL's DPOConfig"):
        FinetuneConfig.model_validate({"dpo": {"trl": {"bta": 0.1}}})
    with pytest.raises(ConfigError, match="see trl.DPOConfig for its fields"):
        FinetuneConfig.model_validate({"dpo": {"trl": {"zzzzzz": 1}}})


def test_a_value_of_the_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"\[dpo.trl\] beta = 'high' is not a valid DPOConfig.beta"):
        FinetuneConfig.model_validate({"dpo": {"trl": {"beta": "high"}}})


def test_without_trl_there_is_nothing_to_check(monkeypatch):
    trl_fields._fields.cache_clear()
    monkeypatch.setitem(sys.modules, "trl", None)  # `import trl` now raises ImportError
    try:
        cfg = FinetuneConfig.model_validate({"sft": {"trl": {"learning_rat": 1e-3}}})
    finally:
        trl_fields._fields.cache_clear()
    assert cfg.sft.trl == {"learning_rat": 1e-3}

