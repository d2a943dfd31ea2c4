"""COPA and e-CARE read from files in their published formats, and their accuracy metrics (CLadder:
test_cladder_reader.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from causal_llm.benchmarks.base import FORMATS, BenchmarkFormatError, Item, RowErrors
from causal_llm.benchmarks.copa import copa_choice, copa_context


def read(fmt: str, path: Path, strict: bool = False) -> tuple[list[Item], RowErrors]:
    import causal_llm.benchmarks.cladder  # noqa: F401  (registers the formats)
    import causal_llm.benchmarks.copa  # noqa: F401

    form = FORMATS.get(fmt)
    rows = RowErrors(path, form.name, form.expects, strict)
    return form.read(path, rows), rows


def jsonl(path: Path, rows: list[dict | str]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- COPA XML ---------------------------------------------------------------------------------

COPA_XML = """<?xml version="1.0" encoding="utf-8"?>
<copa-corpus version="1.0">
  <item id="1" asks-for="cause" most-plausible-alternative="1">
    <p>My body cast a shadow over the grass.</p>
    <a1>The sun was rising.</a1>
    <a2>The grass was cut.</a2>
  </item>
  <item id="2" asks-for="effect" most-plausible-alternative="2">
    <p>The café's "special" was crème brûlée.</p>
    <a1>Ümit ordered tea.</a1>
    <a2>&quot;Everyone&quot; ordered dessert.</a2>
  </item>
  <item id="3" asks-for="cause" most-plausible-alternative="3">
    <p>The man fell.</p><a1>He slipped.</a1><a2>He sang.</a2>
  </item>
  <item id="4" asks-for="effect" most-plausible-alternative="1">
    <p>It rained.</p><a1>The street got wet.</a1>
  </item>
  <item id="5" asks-for="reason" most-plausible-alternative="1">
    <p>It rained.</p><a1>The street got wet.</a1><a2>The sun shone.</a2>
  </item>
</copa-corpus>
"""


def test_copa_xml_items_match_lm_eval_prompt(tmp_path):
    path = tmp_path / "copa-dev.xml"
    path.write_text(COPA_XML, encoding="utf-8")
    items, rows = read("copa", path)
    assert [i.id for i in items] == ["1", "2"]
    first, second = items
    assert first.context == "My body cast a shadow over the grass because"
    assert first.choices == (" the sun was rising.", " the grass was cut.")
    assert (first.label, first.meta["asks_for"]) == (0, "cause")
    assert second.context == 'The café\'s "special" was crème brûlée therefore'
    assert second.choices == (" ümit ordered tea.", ' "Everyone" ordered dessert.')
    assert (second.label, second.meta["asks_for"]) == (1, "effect")
    # every bad item is counted with its 1-based index and the field at fault, none dropped silently
    assert [(m.line, m.reason) for m in rows.malformed] == [
        (3, "item id=3: field 'most-plausible-alternative' must be '1' or '2' (got '3')"),
        (4, "item id=4: missing field 'a2'"),
        (5, "item id=5: field 'asks-for' must be 'cause' or 'effect' (got 'reason')"),
    ]


def test_copa_xml_strict_raises_at_first_bad_item(tmp_path):
    path = tmp_path / "copa.xml"
    path.write_text(COPA_XML, encoding="utf-8")
    with pytest.raises(BenchmarkFormatError, match=r"copa\.xml:3: .*most-plausible-alternative.*--strict"):
        read("copa", path, strict=True)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("<copa-corpus><item id='1'><p>Unclosed</copa-corpus>", "not well-formed XML"),
        ("<data><item/></data>", "root element is <data>"),
        ('{"premise": "x.", "ask-for": "cause", "hypothesis1": "a", "hypothesis2": "b", "label": 0}\n', "none of"),
        ("premise,choice1,choice2\nA.,b,c\n", "no line is valid JSON"),
        ("", "empty"),
    ],
)
def test_copa_wrong_format_names_expected_format(tmp_path, text, detail):
    path = tmp_path / "bench.xml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BenchmarkFormatError, match="not a copa file") as err:
        read("copa", path)
    assert detail in str(err.value)
    assert "<copa-corpus>" in str(err.value) and "choice1" in str(err.value)  # the expected format, in words


# --- COPA SuperGLUE JSONL ---------------------------------------------------------------------

SUPERGLUE_ROWS: list[dict | str] = [
    {
        "premise": "The man turned on the faucet.",
        "choice1": "The toilet filled with water.",
        "choice2": "Water flowed from the spout.",
        "question": "effect",
        "label": 1,
        "idx": 0,
    },
    {
        "premise": 'She said "no" to the café.  ',
        "choice1": "Émilie was tired.",
        "choice2": 'It was closed, "she" said.',
        "question": "cause",
        "label": 0,
        "idx": 1,
    },
    "",
    {"premise": "It rained.", "choice1": "The street got wet.", "question": "effect", "label": 0, "idx": 2},
    {"premise": "It rained.", "choice1": "Wet.", "choice2": "Dry.", "question": "effect", "label": 2, "idx": 3},
    {"premise": "It rained.", "choice1": "Wet.", "choice2": "Dry.", "question": "effect", "label": "1", "idx": 4},
    {"premise": "It rained.", "choice1": "Wet.", "choice2": "Dry.", "question": "effect", "label": True, "idx": 5},
    '{"premise": "truncated',
    {"premise": "", "choice1": "Wet.", "choice2": "Dry.", "question": "effect", "label": 0, "idx": 7},
    {
        "premise": "The sky\u2028darkened.",
        "choice1": "A storm\u2028came.",
        "choice2": "Dry.",
        "question": "cause",
        "label": 0,
    },
]


def test_copa_jsonl_matches_lm_eval_utils_byte_for_byte(tmp_path):
    from lm_eval.tasks.super_glue.copa import utils as lm_eval_copa

    items, rows = read("copa", jsonl(tmp_path / "val.jsonl", SUPERGLUE_ROWS))
    good = [SUPERGLUE_ROWS[0], SUPERGLUE_ROWS[1], SUPERGLUE_ROWS[-1]]
    assert [i.id for i in items] == ["0", "1", "10"]  # no idx: the file line
    for item, doc in zip(items, good, strict=True):
        assert item.context == lm_eval_copa.doc_to_text(doc)
        assert list(item.choices) == lm_eval_copa.doc_to_choice(doc)
        assert item.choices[item.label] == lm_eval_copa.doc_to_target(doc)
    assert items[1].context == 'She said "no" to the café because'
    assert items[1].choices == (" émilie was tired.", ' it was closed, "she" said.')
    assert items[2].context == "The sky\u2028darkened because"
    reasons = {m.line: m.reason for m in rows.malformed}
    assert reasons == {
        4: "missing field 'choice2'",
        5: "field 'label' must be 0 or 1 (got 2)",
        6: "field 'label' must be 0 or 1 (got '1')",
        7: "field 'label' must be 0 or 1 (got True)",
        8: reasons[8],
        9: "field 'premise' must be a non-empty string (got '')",
    }
    assert reasons[8].startswith("not valid JSON")


def test_copa_helpers_follow_lm_eval():
    assert copa_context("  The vase broke.\n", "cause") == "The vase broke because"
    assert copa_context("No full stop", "effect") == "No full sto therefore"  # lm-eval cuts the last char anyway
    assert copa_choice("I left.") == " i left."


# --- e-CARE -----------------------------------------------------------------------------------

ECARE_ROWS: list[dict | str] = [
    {
        "index": "dev-0",
        "premise": "Tom holds a copper block by hand and heats it on fire.",
        "ask-for": "effect",
        "hypothesis1": "His fingers feel burnt immediately.",
        "hypothesis2": "The copper block keeps the same.",
        "label": 0,
        "conceptual_explanation": "Copper is a good thermal conductor.",
    },
    {
        "premise": 'Zoë\'s "smart" kettle — switched off.',
        "ask-for": "cause",
        "hypothesis1": "The water boiled.",
        "hypothesis2": "Nobody touched it.",
        "label": 1,
    },
    {"index": "dev-2", "premise": "It froze.", "ask-for": "effect", "hypothesis1": "Ice.", "hypothesis2": "Sun."},
    {
        "index": "dev-3",
        "premise": "It froze.",
        "ask-for": "why",
        "hypothesis1": "Ice.",
        "hypothesis2": "Sun.",
        "label": 0,
    },
    [1, 2],
]


def test_ecare_items_and_malformed(tmp_path):
    items, rows = read("ecare", jsonl(tmp_path / "dev.jsonl", ECARE_ROWS))
    assert [i.id for i in items] == ["dev-0", "2"]
    assert items[0].context == "Tom holds a copper block by hand and heats it on fire therefore"
    assert items[0].choices == (" his fingers feel burnt immediately.", " the copper block keeps the same.")
    assert (items[0].label, items[0].meta["asks_for"]) == (0, "effect")
    assert items[1].context == 'Zoë\'s "smart" kettle — switched off because'
    assert items[1].label == 1
    assert [(m.line, m.reason) for m in rows.malformed] == [
        (3, "missing field 'label'"),
        (4, "field 'ask-for' must be 'cause' or 'effect' (got 'why')"),
        (5, "a JSON list, not an object"),
    ]
    with pytest.raises(BenchmarkFormatError, match=r"dev\.jsonl:3: missing field 'label'"):
        read("ecare", tmp_path / "dev.jsonl", strict=True)


def test_ecare_rejects_copa_files(tmp_path):
    path = jsonl(tmp_path / "copa.jsonl", SUPERGLUE_ROWS[:2])
    with pytest.raises(BenchmarkFormatError, match="not a ecare file.*none of.*Expected e-CARE JSONL"):
        read("ecare", path)
    xml = tmp_path / "copa.xml"
    xml.write_text(COPA_XML, encoding="utf-8")
    with pytest.raises(BenchmarkFormatError, match="no line is valid JSON"):
        read("ecare", xml)


def test_copa_accuracy_overall_and_per_asks_for(tmp_path):
    items, _ = read("ecare", jsonl(tmp_path / "dev.jsonl", ECARE_ROWS[:2]))
    items = items + [Item("x", "c", (" a", " b"), 1, {"asks_for": "effect"})]
    lls = [np.array([-1.0, -2.0]), np.array([-3.0, -3.5]), np.array([-4.0, -1.0])]  # correct, wrong, correct
    rows = {r.metric: r for r in FORMATS.get("ecare").metrics(items, lls, "base", "eval", n_resamples=200)}
    assert set(rows) == {"ecare/accuracy", "ecare/accuracy/asks_for=cause", "ecare/accuracy/asks_for=effect"}
    assert rows["ecare/accuracy"].value == pytest.approx(2 / 3)
    assert rows["ecare/accuracy"].n == 3
    assert rows["ecare/accuracy"].ci_low <= 2 / 3 <= rows["ecare/accuracy"].ci_high
    assert (rows["ecare/accuracy/asks_for=cause"].value, rows["ecare/accuracy/asks_for=cause"].n) == (0.0, 1)
    assert (rows["ecare/accuracy/asks_for=effect"].value, rows["ecare/accuracy/asks_for=effect"].n) == (1.0, 2)
    flipped = FORMATS.get("ecare").metrics(items, [-ll for ll in lls], "base", "eval", n_resamples=10)
    assert flipped[0].value == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="3 items but 2"):
        FORMATS.get("ecare").metrics(items, lls[:2], "base", "eval")
