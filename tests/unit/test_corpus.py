"""JSONL corpora: every malformed input is reported with its file and line."""

from __future__ import annotations

import json

import pytest

from causal_llm.corpus import CorpusError, read_json, read_jsonl, read_texts, write_json, write_jsonl


def test_missing_file(tmp_path):
    with pytest.raises(CorpusError, match="file not found") as info:
        read_jsonl(tmp_path / "nope.jsonl")
    assert str(tmp_path / "nope.jsonl") in str(info.value)


def test_a_line_that_is_not_json_names_file_and_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "one"}\n\n{"text": "two"}\n{"text": oops}\n')
    with pytest.raises(CorpusError) as info:
        read_jsonl(path)
    assert f"{path}:4:" in str(info.value)  # blank lines still count
    assert "not valid JSON" in str(info.value)


def test_a_line_that_is_not_an_object(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "one"}\n["text"]\n')
    with pytest.raises(CorpusError, match=r"c\.jsonl:2: expected a JSON object, got list"):
        read_jsonl(path)


def test_missing_field(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "one"}\n{"body": "two"}\n')
    with pytest.raises(CorpusError) as info:
        read_jsonl(path, {"text": str})
    msg = str(info.value)
    assert f"{path}:2:" in msg and "missing field 'text'" in msg
    assert read_jsonl(path) == [{"text": "one"}, {"body": "two"}]  # no requirement: both rows


def test_wrong_type(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "one", "n": 1}\n{"text": 2, "n": 1}\n')
    with pytest.raises(CorpusError) as info:
        read_texts(path)
    assert f"{path}:2:" in str(info.value)
    assert "field 'text' must be str, got int" in str(info.value)
    with pytest.raises(CorpusError, match=":1: field 'n' must be str"):
        read_jsonl(path, {"n": str})


def test_empty_file(tmp_path):
    for content in ("", "\n  \n\n"):
        path = tmp_path / "empty.jsonl"
        path.write_text(content)
        with pytest.raises(CorpusError, match="no rows"):
            read_jsonl(path)


def test_unicode_and_quotes_survive_a_round_trip(tmp_path):
    rows = [
        {"text": "She said \"hello\" and 'bye'."},
        {"text": "Zoë – naïve café, 東京, emoji 🙂, tab\tand newline\nin one"},
        {"text": "back\\slash", "extra": [1, 2.5, None, True]},
    ]
    path = write_jsonl(tmp_path / "sub" / "c.jsonl", rows)
    assert path == tmp_path / "sub" / "c.jsonl"
    assert read_jsonl(path, {"text": str}) == rows
    assert read_texts(path) == [r["text"] for r in rows]
    raw = path.read_text(encoding="utf-8")
    assert "東京" in raw and "🙂" in raw  # written as UTF-8, not \u escapes
    assert len(raw.splitlines()) == 3  # the newline inside a string stays escaped
    assert not (tmp_path / "sub" / "c.jsonl.tmp").exists()


def test_write_jsonl_replaces_the_file(tmp_path):
    path = tmp_path / "c.jsonl"
    write_jsonl(path, [{"text": "a"}, {"text": "b"}])
    write_jsonl(path, [{"text": "c"}])
    assert read_texts(path) == ["c"]


def test_json_round_trip(tmp_path):
    obj = {"rows": [{"metric": "bias_gap", "value": 0.5}], "name": "ünïcode"}
    path = write_json(tmp_path / "a" / "r.json", obj)
    assert read_json(path) == obj
    assert json.loads(path.read_text()) == obj
    with pytest.raises(CorpusError, match="file not found"):
        read_json(tmp_path / "missing.json")
