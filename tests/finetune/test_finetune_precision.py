"""``bf16 = "auto"``: bfloat16 autocast only where the hardware computes in it (on an AVX2 CPU it made SFT steps ~9x
slower). The CPU's flags are read from /proc/cpuinfo; tests set them."""

from __future__ import annotations

import logging

import pytest

from logreasoner.finetune import precision

AVX2 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx avx2 fma\n"
ZEN4 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n"


def test_flags_are_read_from_x86_and_arm_cpuinfo():
    assert "avx2" in precision.cpu_flags(AVX2) and "avx512_bf16" not in precision.cpu_flags(AVX2)
    assert "avx512_bf16" in precision.cpu_flags(ZEN4)
    assert {"bf16", "i8mm"} <= precision.cpu_flags(ARM)


@pytest.mark.parametrize("native", [True, False])
def test_auto_follows_the_cpu(monkeypatch, native):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    assert precision.resolve_bf16("auto", "cpu") is native
    assert precision.resolve_bf16(False, "cpu") is False


def test_an_explicit_true_on_a_cpu_without_bf16_is_kept_with_a_warning(monkeypatch, caplog):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    with caplog.at_level(logging.WARNING, logger=precision.__name__):
        assert precision.resolve_bf16(True, "cpu") is True
    assert 'set bf16 = "auto"' in caplog.text
    caplog.clear()
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    with caplog.at_level(logging.WARNING, logger=precision.__name__):
        assert precision.resolve_bf16(True, "cpu") is True
    assert caplog.text == ""


def test_trl_args_resolve_auto_before_trl_sees_it(monkeypatch, tmp_path):
    pytest.importorskip("trl")
    from trl import DPOConfig, SFTConfig

    from logreasoner.finetune.sft import trl_args

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    assert trl_args(SFTConfig, tmp_path / "a", {"bf16": "auto"}, device="cpu").bf16 is False
    assert trl_args(DPOConfig, tmp_path / "b", {"bf16": "auto"}, device="cpu").bf16 is False
    assert trl_args(SFTConfig, tmp_path / "c", {}, device="cpu").bf16 is False
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert trl_args(SFTConfig, tmp_path / "d", {"bf16": "auto"}, device="cpu").bf16 is True


def test_auto_passes_the_config_check_and_other_strings_do_not():
    pytest.importorskip("trl")
    from logreasoner.errors import ConfigError
    from logreasoner.finetune.config import FinetuneConfig

    cfg = FinetuneConfig.model_validate({"sft": {"trl": {"bf16": "auto"}}, "dpo": {"trl": {"bf16": "auto"}}})
    assert cfg.sft.trl["bf16"] == "auto"
    with pytest.raises(ConfigError, match="bf16 = 'sometimes' is not a valid SFTConfig.bf16"):
        FinetuneConfig.model_validate({"sft": {"trl": {"bf16": "sometimes"}}})


def test_the_shipped_recipes_ask_for_auto():
    from pathlib import Path

    import tomllib

    recipes = sorted((Path(__file__).resolve().parents[2] / "finetune" / "recipes").glob("*.toml"))
    assert recipes
    for path in recipes:
        cfg = tomllib.loads(path.read_text())
        for table in (cfg.get("sft", {}).get("trl", {}), cfg.get("dpo", {}).get("trl", {})):
            assert table.get("bf16", "auto") == "auto", path.name
