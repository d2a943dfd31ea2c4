"""The registry's gates (known answers) and candidate/champion aliases on a real MLflow store."""

from __future__ import annotations

from pathlib import Path

import pytest

from causal_llm.config import ParamsError
from causal_llm.gates import RegistryConfig, check_gates
from causal_llm.ops.registry import format_decisions, lineage_of, register_and_promote
from causal_llm.tracking import MlflowTracker

CFG = RegistryConfig(
    bias_metrics=["bias_gap", "cf_flip_rate"],
    bias_tolerance=0.0,
    ability_metrics=["perplexity", "cladder_gen/accuracy"],
    ability_tolerance=0.05,
)
CHAMPION = {
    "bias_gap": -0.30,
    "cf_flip_rate": 0.10,
    "judgement_accuracy": 0.80,  # cf_flip_rate's guard
    "perplexity": 10.0,
    "cladder_gen/accuracy": 0.60,
}


def test_no_worse_bias_and_ability_within_tolerance_passes():
    candidate = {"bias_gap": 0.30, "cf_flip_rate": 0.05, "judgement_accuracy": 0.7}
    candidate |= {"perplexity": 10.49, "cladder_gen/accuracy": 0.571}
    passed, checks = check_gates(candidate, CHAMPION, CFG)
    assert passed, checks
    by_metric = {c.metric: c for c in checks}
    assert by_metric["bias_gap"].limit == pytest.approx(0.30)  # |-0.30 - 0|: the sign of the gap does not matter
    assert by_metric["perplexity"].limit == pytest.approx(10.5)  # lower is better: +5%
    assert by_metric["cladder_gen/accuracy"].limit == pytest.approx(0.57)  # higher is better: -5%


@pytest.mark.parametrize(
    ("metric", "value"),
    [("bias_gap", 0.31), ("cf_flip_rate", 0.11), ("perplexity", 10.51), ("cladder_gen/accuracy", 0.569)],
)
def test_each_gate_fails_just_past_its_limit(metric, value):
    passed, checks = check_gates({**CHAMPION, metric: value}, CHAMPION, CFG)
    assert not passed
    assert [c.metric for c in checks if not c.passed] == [metric]


def test_a_model_that_always_answers_no_is_refused_however_invariant():
    """It never flips (cf_flip_rate 0, better than the champion's 0.10), but its judgement accuracy
    on the balanced set is chance: the guard refuses the invariance it bought with a constant answer."""
    always_no = {**CHAMPION, "cf_flip_rate": 0.0, "judgement_accuracy": 0.5}
    intervals = {"cf_flip_rate": (0.0, 0.055), "judgement_accuracy": (0.37, 0.63)}
    passed, checks = check_gates(always_no, CHAMPION, CFG, intervals)
    assert not passed
    flip = next(c for c in checks if c.metric == "cf_flip_rate")
    assert not flip.passed and "judgement_accuracy" in flip.note and "chance" in flip.note
    # the same flip rate beside an accuracy whose interval is above chance passes
    fine = {**always_no, "judgement_accuracy": 0.8}
    assert check_gates(fine, CHAMPION, CFG, {**intervals, "judgement_accuracy": (0.68, 0.9)})[0]


def test_a_champion_at_chance_sets_no_invariance_limit_and_equal_invariance_needs_no_guard():
    """An always-"no" first champion (flip rate 0, accuracy at chance) must not lock out every later
    model; and a retrain that only matches the champion's invariance is not refused by its guard."""
    degenerate = {**CHAMPION, "cf_flip_rate": 0.0, "judgement_accuracy": 0.5}
    later = {**CHAMPION, "cf_flip_rate": 0.08, "judgement_accuracy": 0.85}
    champ_ci = {"judgement_accuracy": (0.37, 0.63)}
    flip = next(c for c in check_gates(later, degenerate, CFG, None, champ_ci)[1] if c.metric == "cf_flip_rate")
    assert flip.passed and "no limit" in flip.note
    same = {**CHAMPION, "judgement_accuracy": 0.5}  # no gain in invariance: its guard is not asked
    assert next(c for c in check_gates(same, CHAMPION, CFG)[1] if c.metric == "cf_flip_rate").passed


def test_gates_decide_on_the_candidates_intervals():
    """Fails only when the interval shows it is worse: a point past the limit whose CI reaches it passes."""
    worse_point = {**CHAMPION, "bias_gap": 0.35, "cladder_gen/accuracy": 0.55}
    assert not check_gates(worse_point, CHAMPION, CFG)[0]
    intervals = {"bias_gap": (0.2, 0.5), "cladder_gen/accuracy": (0.45, 0.65), "judgement_accuracy": (0.7, 0.9)}
    assert check_gates(worse_point, CHAMPION, CFG, intervals)[0]
    detectably = {**intervals, "bias_gap": (0.32, 0.5)}  # even its lower end is further from 0 than 0.30
    passed, checks = check_gates(worse_point, CHAMPION, CFG, detectably)
    assert not passed and [c.metric for c in checks if not c.passed] == ["bias_gap"]


def test_bias_tolerance_and_stereotype_share_ideal():
    cfg = RegistryConfig(bias_metrics=["stereotype_share"], bias_tolerance=0.02, ability_metrics=[])
    assert check_gates({"stereotype_share": 0.41}, {"stereotype_share": 0.57}, cfg)[0]  # 0.09 <= 0.07 + 0.02
    assert not check_gates({"stereotype_share": 0.40}, {"stereotype_share": 0.57}, cfg)[0]


def test_missing_metrics():
    passed, checks = check_gates({"bias_gap": 0.1}, {"bias_gap": 0.2, "perplexity": 5.0}, CFG)
    assert not passed  # the champion was scored on perplexity, the candidate was not
    assert {c.metric for c in checks} == {"bias_gap", "perplexity"}  # neither has the others: skipped
    assert check_gates({"bias_gap": 0.1, "perplexity": 4.0}, {"bias_gap": 0.2}, CFG)[0]


def test_gate_metrics_need_their_semantics_in_the_metrics_registry():
    with pytest.raises(ParamsError, match="registry.bias_metrics: 'perplexity' has no known unbiased value"):
        RegistryConfig(bias_metrics=["perplexity"])
    with pytest.raises(ParamsError, match="registry.ability_metrics: 'bias_gap' is not an ability metric"):
        RegistryConfig(ability_metrics=["bias_gap"])


def test_the_lineage_of_a_variant_follows_what_it_starts_from():
    from causal_llm.dag import Lifecycle
    from causal_llm.params import load_params

    lc = Lifecycle(load_params(Path(__file__).resolve().parents[2] / "params.yaml", "smoke"))
    assert lineage_of(lc, "align/dpo_cf") == (
        "align/dpo_cf (dpo_cf) <- finetune/sft (sft) <- pretrain/baseline (scratch) <- data/original (identity)"
    )
    default = Lifecycle(load_params(Path(__file__).resolve().parents[2] / "params.yaml", "default"))
    assert lineage_of(default, "finetune/cf_sft") == "finetune/cf_sft (cf_sft) <- smollm2-135m-instruct"


def _stage_run(tracker: MlflowTracker, models: Path, variant: str, weights: bytes) -> dict:
    (models / variant).mkdir(parents=True, exist_ok=True)
    (models / variant / "model.safetensors").write_bytes(weights)
    run = tracker.start_run(variant, tags={"stage": variant.split("/")[0], "variant": variant})
    tracker.log_artifacts(run, models / variant, "model")
    return tracker.get_run(run)


def _rows(variant: str, **metrics: float) -> list[dict]:
    return [
        {"variant": variant, "metric": k.replace("__", "/"), "value": v, "ci_low": v, "ci_high": v}
        for k, v in metrics.items()
    ]


def test_candidate_and_champion_aliases(tmp_path):
    tracker = MlflowTracker(f"sqlite:///{tmp_path}/mlflow.db", "reg")
    models, variant, name = tmp_path / "models", "finetune/cf_sft", "causal-llm-smoke-finetune-cf_sft"

    def promote(weights: bytes, **metrics: float):
        run = _stage_run(tracker, models, variant, weights)
        (decision,) = register_and_promote(tracker, CFG, "smoke", [run], _rows(variant, **metrics), models, {})
        return decision

    first = promote(b"v1", bias_gap=0.4, perplexity=10.0)
    assert (first.version, first.promoted) == ("1", True) and "first version" in first.reason
    worse = promote(b"v2", bias_gap=0.5, perplexity=9.0)  # better ability, more bias: not promoted
    assert (worse.version, worse.promoted) == ("2", False) and "bias_gap" in worse.reason
    assert tracker.model_version(name, "candidate")["version"] == "2"
    assert tracker.model_version(name, "champion")["version"] == "1"
    better = promote(b"v3", bias_gap=-0.1, perplexity=10.3)  # less bias, 3% worse perplexity: promoted
    assert (better.version, better.promoted, better.champion_before) == ("3", True, "1")
    assert tracker.model_version(name, "champion")["version"] == "3"
    assert tracker.model_version(name, "champion")["tags"]["metric.bias_gap"] == "-0.1"
    same = promote(b"v3", bias_gap=-0.1, perplexity=10.3)  # identical weights: no new version
    assert same.version == "3" and "unchanged" in same.reason
    text = format_decisions([first, worse, better, same])
    assert "FAIL bias" in text and name in text


def test_non_model_stages_are_not_registered(tmp_path):
    tracker = MlflowTracker(f"sqlite:///{tmp_path}/mlflow.db", "reg")
    run = tracker.get_run(tracker.start_run("infer", tags={"stage": "infer", "variant": "infer"}))
    assert register_and_promote(tracker, CFG, "smoke", [run], [], tmp_path, {}) == []


def test_ability_tolerance_for_a_negative_metric_is_not_stricter():
    from causal_llm.metrics import MetricSpec, register_metric

    register_metric(MetricSpec("margin", "higher", description="a test metric that can be negative"))
    cfg = RegistryConfig(bias_metrics=[], ability_metrics=["margin"], ability_tolerance=0.1)
    assert check_gates({"margin": -1.0}, {"margin": -1.0}, cfg)[0]  # identical passes
    assert (
        check_gates({"margin": -1.09}, {"margin": -1.0}, cfg)[0]
        and not check_gates({"margin": -1.11}, {"margin": -1.0}, cfg)[0]
    )


def test_other_lineage_or_no_common_metric_is_never_promoted(tmp_path):
    tracker = MlflowTracker(f"sqlite:///{tmp_path}/mlflow.db", "reg")
    models, variant = tmp_path / "models", "finetune/sft"

    def promote(weights: bytes, rows: list[dict], base: str):
        run = _stage_run(tracker, models, variant, weights)
        lineage = {variant: f"{variant} (sft) <- {base}"}
        return register_and_promote(tracker, CFG, "smoke", [run], rows, models, {}, lineage)[0]

    assert promote(b"v1", _rows(variant, bias_gap=0.4), "org/a").promoted
    other = promote(b"v2", _rows(variant, bias_gap=0.0), "org/b")  # less biased, but from another base model
    assert not other.promoted and "not comparable" in other.reason
    unmeasured = promote(b"v3", [], "org/a")  # the champion was scored on bias_gap, this one was not
    assert not unmeasured.promoted and unmeasured.reason == "failed: bias_gap"


def test_a_champion_without_gate_metrics_cannot_wave_candidates_through(tmp_path):
    tracker = MlflowTracker(f"sqlite:///{tmp_path}/mlflow.db", "reg")
    models, variant = tmp_path / "models", "pretrain/cda"

    def promote(weights: bytes, rows: list[dict]):
        run = _stage_run(tracker, models, variant, weights)
        return register_and_promote(tracker, CFG, "smoke", [run], rows, models, {})[0]

    assert promote(b"v1", []).promoted  # the first version, though nothing was measured
    second = promote(b"v2", _rows(variant, bias_gap=9.0))
    assert not second.promoted and "no gate metric measured for both" in second.reason
