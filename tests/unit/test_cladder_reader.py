"""The CLadder reader on files laid out as the authors publish them (github.com/causalNLP/cladder):
questions in ``data/<split>-generate-<variant>.json`` with ONE ``data/<split>-model-meta.json`` per
split (and the release zip's ``cladder-v1-<set>.json`` with ``cladder-v1-meta-models.json``); the
``?meta=`` override; clear errors for a missing or malformed metadata file; rows and breakdowns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from causal_llm.benchmarks import FORMATS, BenchmarkFormatError, Item, RowErrors, formats
from causal_llm.benchmarks.cladder import ANSWER_SUFFIX, find_model_metadata, paired_metadata
from causal_llm.benchmarks.runner import load_benchmark, split_options

formats()
CLADDER = FORMATS.get("cladder")
PREFIX = (
    "Imagine a self-contained, hypothetical world with only the following conditions, and without any "
    "unmentioned factors or causal relationships: "
)
ALARM = PREFIX + "Husband has a direct effect on wife and alarm clock. Wife has a direct effect on alarm clock."
CANDLE = PREFIX + "The man in the room has a direct effect on room. The candle has a direct effect on room."
ATE_INFO = (
    "For husbands that don't set the alarm, the probability of ringing alarm is 26%. "
    "For husbands that set the alarm, the probability of ringing alarm is 85%."
)


def authors_question(qid: int, model_id: int, query_type: str, rung: int, text: str, answer: str, **kw) -> dict:
    """One question with the fields and nesting of the authors' test-generate-*.json."""
    story_id, graph_id = kw.pop("story", ("alarm", "mediation"))
    given_info = kw.pop("given_info", ATE_INFO)
    return {
        "question_id": qid,
        "desc_id": f"{story_id}-{graph_id}-{query_type}-model{model_id}-spec0-q{qid % 2}",
        "given_info": given_info,
        "question": text,
        "answer": answer,
        "meta": {
            "story_id": story_id,
            "graph_id": graph_id,
            "treated": True,
            "result": True,
            "polarity": answer == "yes",
            "groundtruth": 0.5925244566507366,
            "query_type": query_type,
            "rung": rung,
            "formal_form": "E[Y | do(X = 1)] - E[Y | do(X = 0)]",
            "given_info": {"p(Y | X)": [0.2588870521988558, 0.8514115088495925]},
            "estimand": "P(Y=1|X=1) - P(Y=1|X=0)",
            "treatment": "X",
            "outcome": "Y",
            "model_id": model_id,
            **kw,
        },
        "reasoning": {
            "step0": "Let X = husband; V2 = wife; Y = alarm clock.",
            "step1": "X->V2,X->Y,V2->Y",
            "step2": "E[Y | do(X = 1)] - E[Y | do(X = 0)]",
            "step3": "P(Y=1|X=1) - P(Y=1|X=0)",
            "step4": "P(Y=1 | X=0) = 0.26\nP(Y=1 | X=1) = 0.85",
            "step5": "0.85 - 0.26 = 0.59",
            "end": "0.59 > 0",
        },
    }


def authors_model(model_id: int, story_id: str, graph_id: str, background: str, difficulty: str) -> dict:
    """One entry of the authors' test-model-meta.json (shortened params, same keys)."""
    return {
        "model_id": model_id,
        "story_id": story_id,
        "graph_id": graph_id,
        "spec_id": 0,
        "spec": {"X": [0.7, 0.9], "V2": {"X": 0}, "Y": {"X": 0.4, "V2": 0.4}},
        "seed": 11,
        "builder": "difficulty",
        "difficulty": difficulty,
        "equation_type": "bernoulli",
        "background": background,
        "variable_mapping": {"Xname": "husband", "X1": "alarm set by husband", "X0": "alarm not set by husband"},
        "structure": "X->V2,X->Y,V2->Y",
        "params": {"p(X)": 0.799855572488023, "p(V2 | X)": [0.29399155089401574, 0.6771082736023898]},
        "groundtruth": {"ATE(Y | X)": 0.5925244566507366, "NDE(Y | X)": 0.4262715832796687},
    }


EASY = [
    authors_question(1, 0, "ate", 2, "Will alarm set by husband increase the chance of ringing alarm?", "yes"),
    authors_question(2, 0, "ate", 2, "Will alarm set by husband decrease the chance of ringing alarm?", "no"),
    authors_question(
        3,
        0,
        "ett",
        3,
        "For husbands that set the alarm, would it be more likely to see ringing alarm if the husband had not set "
        "the alarm?",
        "no",
    ),
    authors_question(
        4,
        2,
        "marginal",
        1,
        "Is dark room more likely than bright room overall?",
        "no",
        story=("candle", "fork"),
        given_info="The overall probability of blowing out the candle is 27%.",
    ),
]
HARD = [authors_question(1, 74, "ate", 2, "Will alarm set by husband increase the chance of ringing alarm?", "no")]
MODELS = [
    authors_model(0, "alarm", "mediation", ALARM, "easy"),
    authors_model(2, "candle", "fork", CANDLE, "easy"),
    authors_model(74, "alarm", "mediation", ALARM, "hard"),
]


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")  # indent=2 as the authors' files
    return path


def authors_data(root: Path, models=MODELS) -> Path:
    """``data/`` as in the authors' repository: two variants of the ``test`` split, one metadata file."""
    data = root / "data"
    write_json(data / "test-generate-easy.json", EASY)
    write_json(data / "test-generate-hard.json", HARD)
    if models is not None:
        write_json(data / "test-model-meta.json", models)
    return data


def read(path: Path, strict: bool = False, **options) -> tuple[list[Item], RowErrors]:
    rows = RowErrors(path, "cladder", CLADDER.expects, strict)
    return CLADDER.read(path, rows, **options), rows


# --- the published layouts -----------------------------------------------------------------------


def test_the_authors_data_layout_pairs_each_variant_with_the_splits_metadata(tmp_path):
    data = authors_data(tmp_path)
    for variant in ("easy", "hard"):
        assert find_model_metadata(data / f"test-generate-{variant}.json") == data / "test-model-meta.json"
    items, rows = read(data / "test-generate-easy.json")
    assert not rows.malformed and [i.id for i in items] == ["1", "2", "3", "4"]
    for item, q in zip(items, EASY, strict=True):  # prompt = background + given_info + question
        background = ALARM if q["meta"]["model_id"] == 0 else CANDLE
        assert item.context == f"{background} {q['given_info']} {q['question']}{ANSWER_SUFFIX}"
        assert item.choices == (" yes", " no") and item.label == (0 if q["answer"] == "yes" else 1)
    assert dict(items[2].meta) == {
        "rung": 3,
        "query_type": "ett",
        "graph_id": "mediation",
        "story_id": "alarm",
        "model_id": 0,
        "variant": "easy",  # from the file name: the authors' questions do not state it
    }
    [hard], _ = read(data / "test-generate-hard.json")
    assert hard.context.startswith(ALARM + " For husbands") and hard.meta["variant"] == "hard"
    assert hard.label == 1


def test_breakdowns_on_the_authors_layout(tmp_path):
    items, _ = read(authors_data(tmp_path) / "test-generate-easy.json")
    # labels yes, no, no, no; predictions yes, yes, no, yes -> correct, wrong, correct, wrong
    lls = [np.array(x) for x in ([-1.0, -2.0], [-1.0, -2.0], [-2.0, -1.0], [-0.1, -0.2])]
    rows = {r.metric: r for r in CLADDER.metrics(items, lls, "base", "eval", n_resamples=50)}
    assert rows["cladder/accuracy"].value == pytest.approx(0.5) and rows["cladder/accuracy"].n == 4
    assert (rows["cladder/accuracy/rung=2"].value, rows["cladder/accuracy/rung=2"].n) == (0.5, 2)
    assert rows["cladder/accuracy/rung=3"].value == 1.0 and rows["cladder/accuracy/rung=1"].value == 0.0
    assert rows["cladder/accuracy/query_type=ett"].value == 1.0
    assert rows["cladder/accuracy/graph_id=mediation"].value == pytest.approx(2 / 3)
    assert rows["cladder/accuracy/graph_id=fork"].value == 0.0
    assert (rows["cladder/accuracy/variant=easy"].value, rows["cladder/accuracy/variant=easy"].n) == (0.5, 4)
    assert len(rows) == 1 + 3 + 3 + 2 + 1


def test_load_benchmark_guesses_cladder_and_hashes_the_metadata_too(tmp_path):
    data = authors_data(tmp_path)
    bench = load_benchmark(str(data / "test-generate-easy.json"))
    assert (bench.format, bench.name, len(bench.items)) == ("cladder", "test-generate-easy.json", 4)
    models = [dict(m, background=m["background"] + " Changed.") for m in MODELS]
    write_json(data / "test-model-meta.json", models)
    changed = load_benchmark(f"cladder:{data / 'test-generate-easy.json'}")
    assert changed.items[0].context.startswith(ALARM + " Changed.")
    assert changed.data_hash != bench.data_hash  # the backgrounds are part of the data


def test_the_model_metadata_may_be_an_object_keyed_by_model_id(tmp_path):
    data = authors_data(tmp_path, models={str(m["model_id"]): {"background": m["background"]} for m in MODELS})
    items, rows = read(data / "test-generate-easy.json")
    assert not rows.malformed and items[3].context.startswith(CANDLE)


def test_the_release_zip_layout(tmp_path):
    write_json(tmp_path / "cladder-v1-q-easy.json", EASY)
    write_json(tmp_path / "cladder-v1-aggregate.json", EASY + [dict(HARD[0], question_id=5)])
    write_json(tmp_path / "cladder-v1-meta-models.json", MODELS)
    assert paired_metadata(tmp_path / "cladder-v1-q-easy.json").name == "cladder-v1-meta-models.json"
    easy, _ = read(tmp_path / "cladder-v1-q-easy.json")
    assert easy[0].context.startswith(ALARM) and easy[0].meta["variant"] == "easy"
    aggregate, rows = read(tmp_path / "cladder-v1-aggregate.json")
    assert len(aggregate) == 5 and not rows.malformed
    assert all("variant" not in i.meta for i in aggregate)  # a mix of variants, stated nowhere


def test_the_generators_layout(tmp_path):
    write_json(tmp_path / "cladder_gen.json", [dict(EASY[0], meta=dict(EASY[0]["meta"], variant="nonsense"))])
    write_json(tmp_path / "cladder_gen-meta-models.json", MODELS)
    [item], _ = read(tmp_path / "cladder_gen.json")
    assert item.context.startswith(ALARM) and item.meta["variant"] == "nonsense"


def test_questions_with_their_own_background_need_no_metadata(tmp_path):
    """The authors' generator with include-background writes the background into each question."""
    own = [dict(q, background=f"World {q['question_id']}.") for q in EASY[:2]]
    path = write_json(tmp_path / "full-generate-commonsense.json", own + [EASY[2]])
    items, rows = read(path)
    assert [i.context.split(" For")[0] for i in items] == ["World 1.", "World 2."]
    [bad] = rows.malformed
    assert (bad.line, bad.reason) == (3, "no background for model_id 0 (no full-model-meta.json beside the file)")


# --- nothing is guessed; the override --------------------------------------------------------------


def test_another_splits_or_releases_metadata_is_not_taken(tmp_path):
    data = authors_data(tmp_path, models=None)
    write_json(data / "train-model-meta.json", MODELS)
    write_json(data / "cladder-v1-meta-models.json", MODELS)
    path = data / "test-generate-easy.json"
    assert find_model_metadata(path) is None
    with pytest.raises(BenchmarkFormatError) as err:
        read(path)
    message = str(err.value)
    assert str(path) in message and "test-model-meta.json is not in" in message
    assert f"cladder:{path}?meta=FILE" in message  # the fix
    with pytest.raises(BenchmarkFormatError, match=r"could not tell its format.*test-model-meta\.json is not in"):
        load_benchmark(str(path))


def test_the_meta_option_names_the_metadata_file(tmp_path):
    data = authors_data(tmp_path, models=None)
    meta = write_json(tmp_path / "elsewhere" / "models.json", MODELS)
    path = data / "test-generate-easy.json"
    items, rows = read(path, meta=meta)
    assert not rows.malformed and items[0].context.startswith(ALARM)
    bench = load_benchmark(f"cladder:{path}?meta={meta}")
    assert bench.name == "test-generate-easy.json" and bench.items[0].context == items[0].context
    assert load_benchmark(str(path), "cladder", options={"meta": str(meta)}).data_hash == bench.data_hash
    # an explicit file wins over the paired one
    write_json(data / "test-model-meta.json", [dict(m, background="Paired.") for m in MODELS])
    assert load_benchmark(f"cladder:{path}").items[0].context.startswith("Paired.")
    assert load_benchmark(f"cladder:{path}?meta={meta}").items[0].context.startswith(ALARM)


def test_option_errors_say_what_to_write(tmp_path):
    path = authors_data(tmp_path) / "test-generate-easy.json"
    with pytest.raises(BenchmarkFormatError, match=r"models\.json: CLadder model metadata file not found.*Fix"):
        load_benchmark(f"cladder:{path}?meta={tmp_path / 'models.json'}")
    with pytest.raises(BenchmarkFormatError, match="has no option 'mta' \\(it takes meta\\)"):
        load_benchmark(f"cladder:{path}?mta=x.json")
    with pytest.raises(BenchmarkFormatError, match="need the format named: write FORMAT:"):
        load_benchmark(f"{path}?meta=x.json")
    with pytest.raises(BenchmarkFormatError, match="option 'meta' is empty"):
        load_benchmark(f"cladder:{path}?meta=")
    crows = tmp_path / "pairs.csv"
    crows.write_text("sent_more,sent_less,stereo_antistereo,bias_type\na,b,stereo,gender\n")
    with pytest.raises(BenchmarkFormatError, match="crows_pairs has no option 'meta' \\(it takes none\\)"):
        load_benchmark(f"crows_pairs:{crows}?meta=x.json")


def test_split_options():
    assert split_options("cladder:data/test-generate-easy.json?meta=data/m.json") == (
        "cladder:data/test-generate-easy.json",
        {"meta": "data/m.json"},
    )
    assert split_options("cladder:a.json?meta=m.json&other=1") == ("cladder:a.json", {"meta": "m.json", "other": "1"})
    assert split_options("cladder_gen") == ("cladder_gen", {})
    assert split_options("odd?name.json") == ("odd?name.json", {})  # no key=value: part of the path


def test_cli_evaluate_takes_the_meta_option(tmp_path, base_model_dir, capsys):
    path = authors_data(tmp_path, models=None) / "test-generate-easy.json"
    meta = write_json(tmp_path / "models" / "all-models.json", MODELS)
    out = tmp_path / "result.json"
    args = ["evaluate", "--model", str(base_model_dir), "--benchmark", f"cladder:{path}?meta={meta}"]
    assert main([*args, "--n-bootstrap", "50", "--no-progress", "--output", str(out)]) == 0
    [result] = json.loads(out.read_text())["benchmarks"]
    assert (result["benchmark"], result["format"], len(result["items"])) == ("test-generate-easy.json", "cladder", 4)
    assert {"cladder/accuracy", "cladder/accuracy/variant=easy"} <= {m["metric"] for m in result["metrics"]}
    assert "cladder/accuracy" in capsys.readouterr().out


def test_cli_evaluate_reports_a_bad_meta_file_before_loading_the_model(tmp_path, capsys):
    path = authors_data(tmp_path) / "test-generate-easy.json"
    bad = tmp_path / "bad-meta.json"
    bad.write_text("{not json", encoding="utf-8")
    out = tmp_path / "result.json"
    args = ["evaluate", "--model", str(tmp_path / "no-model"), "--benchmark", f"cladder:{path}?meta={bad}"]
    assert main([*args, "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad-meta.json: CLadder model metadata is not valid JSON" in err and not out.exists()


# --- a malformed metadata file -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ('[{"model_id": 0, ', "is not valid JSON"),
        ("42", "must be a JSON array of models (or an object keyed by model_id), not a JSON int"),
        ("[]", "lists no models"),
        (json.dumps(EASY), "holds CLadder questions"),
        (json.dumps([{"background": ALARM}]), "entry 1 has no model_id"),
        (json.dumps([MODELS[0], "model 1"]), "entry 2 is a JSON str, not a model object"),
        (json.dumps([MODELS[0], MODELS[0]]), "model_id 0 is listed twice"),
    ],
)
def test_a_malformed_metadata_file_is_an_error_naming_it(tmp_path, content, detail):
    data = authors_data(tmp_path, models=None)
    (data / "test-model-meta.json").write_text(content, encoding="utf-8")
    with pytest.raises(BenchmarkFormatError) as err:
        read(data / "test-generate-easy.json")
    message = str(err.value)
    assert message.startswith(f"{data / 'test-model-meta.json'}: ") and detail in message
    if "listed twice" not in message:
        assert "pass the questions' own model metadata file" in message  # the fix


def test_models_missing_from_or_contradicting_the_metadata_are_bad_rows(tmp_path):
    no_background = dict(MODELS[0])
    del no_background["background"]
    other_story = dict(MODELS[1], story_id="nonsense7")
    data = authors_data(tmp_path, models=[no_background, other_story])
    items, rows = read(data / "test-generate-easy.json")
    assert items == []
    assert [(m.line, m.reason) for m in rows.malformed] == [
        (1, "no background for model_id 0 (no 'background' in test-model-meta.json)"),
        (2, "no background for model_id 0 (no 'background' in test-model-meta.json)"),
        (3, "no background for model_id 0 (no 'background' in test-model-meta.json)"),
        (
            4,
            "model_id 2 is story_id 'nonsense7' in test-model-meta.json but 'candle' in the question: pass the "
            "questions' own model metadata file",
        ),
    ]
    authors_data(tmp_path / "b", models=MODELS[:2])
    _, rows = read(tmp_path / "b" / "data" / "test-generate-hard.json")
    assert rows.malformed[0].reason == "no background for model_id 74 (not in test-model-meta.json)"


# --- rows and formats ------------------------------------------------------------------------------


def test_bad_rows_are_reported_with_their_index(tmp_path):
    rows_in = [
        EASY[0],
        dict(EASY[1], answer="maybe"),
        dict(EASY[1], meta=dict(EASY[1]["meta"], rung=4)),
        {"question_id": 8, "given_info": "x", "question": "Is it?", "answer": "no"},
        dict(EASY[1], given_info=None),
        dict(EASY[1], given_info="", answer=" Yes "),  # some query types give no numbers
    ]
    data = authors_data(tmp_path)
    write_json(data / "test-generate-easy.json", rows_in)
    items, rows = read(data / "test-generate-easy.json")
    assert [i.id for i in items] == ["1", "2"]
    assert items[1].context == f"{ALARM} {EASY[1]['question']}{ANSWER_SUFFIX}" and items[1].label == 0
    assert [(m.line, m.reason) for m in rows.malformed] == [
        (2, "field 'answer' must be 'yes' or 'no' (got 'maybe')"),
        (3, "field 'meta.rung' must be 1 or 2 or 3 (got 4)"),
        (4, "missing field 'meta'"),
        (5, "field 'given_info' must be a string (got None)"),
    ]
    with pytest.raises(BenchmarkFormatError, match=r"test-generate-easy\.json:2: .*'answer'.*--strict"):
        read(data / "test-generate-easy.json", strict=True)


def test_jsonl_with_the_same_fields(tmp_path):
    path = tmp_path / "test-generate-easy.jsonl"
    path.write_text("\n".join([json.dumps(EASY[0]), "", "not json", json.dumps(EASY[3])]) + "\n", encoding="utf-8")
    write_json(tmp_path / "test-model-meta.json", MODELS)
    items, rows = read(path)
    assert [i.id for i in items] == ["1", "4"] and items[1].context.startswith(CANDLE)
    assert [m.line for m in rows.malformed] == [3]


@pytest.mark.parametrize(
    ("name", "text", "detail"),
    [
        ("test-model-meta.json", json.dumps(MODELS), "a model metadata file?"),
        ("q.json", '[{"question_id": 1, ', "not valid JSON"),
        ("q.csv", "question_id,given_info\n1,x\n", "no line is valid JSON"),
        ("q.jsonl", json.dumps({"premise": "x", "choice1": "a"}), "none of"),
    ],
)
def test_a_file_of_another_format_is_told_so(tmp_path, name, text, detail):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BenchmarkFormatError, match="not a cladder file") as err:
        read(path)
    assert detail in str(err.value) and "Expected CLadder questions" in str(err.value)
