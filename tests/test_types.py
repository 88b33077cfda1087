"""Typed choices: one check behind settings, chunk kinds and fusion names."""

from __future__ import annotations

import pytest

from kb_service.config import ConfigError, load_settings
from kb_service.types import CHUNK_KINDS, FUSIONS, ChunkDraft, check_choice


def test_check_choice_names_the_setting_and_every_accepted_value():
    assert check_choice("fusion", "rrf", FUSIONS) == "rrf"
    with pytest.raises(ValueError, match=r"^fusion must be 'weighted' or 'rrf', got 'rfr'$"):
        check_choice("fusion", "rfr", FUSIONS)
    with pytest.raises(ValueError, match=r"^x must be 'a', 'b' or 'c', got 'd'$"):
        check_choice("x", "d", ("a", "b", "c"))


def test_an_unknown_chunk_kind_is_refused_where_the_chunk_is_made():
    ChunkDraft(text="t", embed_text="t", kind=CHUNK_KINDS[0], heading_path=(), anchor="", line_start=1, line_end=1)
    with pytest.raises(ValueError, match="chunk kind must be"):
        ChunkDraft(text="t", embed_text="t", kind="paragraf", heading_path=(), anchor="", line_start=1, line_end=1)


@pytest.mark.parametrize("name, value, accepted", [
    ("KB_QUERY_BACKEND", "onxx", "'onnx' or 'torch'"),
    ("KB_ONNX_QUANTIZE", "int4", "'int8' or 'none'"),
    ("KB_INGEST_PRECISION", "fp16", "'auto', 'fp32' or 'bf16'"),
    ("KB_INGEST_BACKEND", "tf", "'torch' or 'onnx'"),
])
def test_a_misspelt_setting_is_a_config_error_listing_the_choices(monkeypatch, tmp_path, name, value, accepted):
    monkeypatch.setenv(name, value)
    config = tmp_path / "kb.toml"
    config.write_text("")
    setting = name.removeprefix("KB_").lower()
    with pytest.raises(ConfigError, match=f"{setting} must be {accepted}, got '{value}'"):
        load_settings(config)
