"""LoRA SFT and counterfactual SFT: self-contained bundles, resumable runs, counterfactual examples."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from causal_llm.data.cda import gender_swap
from causal_llm.finetune.cf_sft import CfSftConfig, cf_sft
from causal_llm.finetune.sft import counterfactual_examples, instruction_examples, sft
from causal_llm.models.loading import CHAIN_FILE, describe_model, load_model, load_tokenizer, read_bundle, read_chain
from causal_llm.training.context import LocalContext
from tests.unit.helpers import Interrupted, KilledAfterCheckpoints, same_weights, story_records, tiny_sft_config

CPU = torch.device("cpu")
PROBE = "The nurse said that she was ready for work. She had many years of experience."


def logits(ref: str) -> torch.Tensor:
    tok = load_tokenizer(ref)
    model = load_model(ref, device=CPU)
    with torch.no_grad():
        return model(input_ids=torch.tensor([tok(PROBE)["input_ids"]])).logits[0]


def inputs_for(base, stories, node: str = "finetune/sft") -> dict:
    return {"base": str(base), "stories": story_records(stories), "node": node, "base_label": "pretrain/baseline"}


def test_sft_writes_a_bundle_that_embeds_its_small_base(sft_run, base_model_dir):
    out, summary = sft_run
    names = {p.name for p in out.iterdir()}
    assert {"adapters", "base", CHAIN_FILE, "tokenizer.json"} <= names
    assert "model.safetensors" not in names  # an adapter, not a merged copy of the model
    stored = json.loads((out / CHAIN_FILE).read_text())
    assert stored["base"] == {"path": "base"} and stored["adapters"] == ["adapters/00"]  # relative: relocatable
    assert read_chain(str(out)) == (str((out / "base").resolve()), [str((out / "adapters" / "00").resolve())])
    assert read_chain(str(base_model_dir)) is None
    assert describe_model(str(out)).startswith("finetune/sft <- ")
    assert summary["steps"] == 4  # 16 examples, batch 8, 2 epochs
    assert all(loss > 0 for loss in summary["losses"])


def test_a_bundle_loads_alone_after_its_folder_moves(sft_run, tmp_path):
    out, _ = sft_run
    moved = tmp_path / "elsewhere" / "model"
    shutil.copytree(out, moved)  # an MLflow artifact download, a DVC checkout in another clone
    torch.testing.assert_close(logits(str(moved)), logits(str(out)))


def test_the_loaded_adapter_changes_the_model(sft_run, base_model_dir):
    out, _ = sft_run
    base, tuned = logits(str(base_model_dir)), logits(str(out))
    assert base.shape == tuned.shape
    assert (base - tuned).abs().max() > 1e-3
    # the tokenizer travels with the adapter
    assert load_tokenizer(str(out))(PROBE)["input_ids"] == load_tokenizer(str(base_model_dir))(PROBE)["input_ids"]
    torch.testing.assert_close(tuned, logits(str(out)))  # loading is deterministic


def test_sft_on_top_of_a_bundle_extends_the_chain(tmp_path, sft_run, stories):
    first, _ = sft_run
    second = tmp_path / "second"
    cfg = tiny_sft_config(epochs=1)
    sft(LocalContext(second, tmp_path / "ckpt", quiet=True), inputs_for(first, stories, "finetune/again"), cfg, 1)
    bundle = read_bundle(second)
    assert [Path(a).name for a in bundle["adapter_dirs"]] == ["00", "01"]
    assert bundle["lineage"][-2:] == ["finetune/sft", "finetune/again"]
    assert (logits(str(second)) - logits(str(first))).abs().max() > 1e-4


def test_counterfactual_sft_trains_on_twice_the_examples(tmp_path, base_model_dir, stories):
    cfg = CfSftConfig(
        **{f: getattr(tiny_sft_config(epochs=1), f) for f in ("n_examples", "max_length", "lora", "training")}
    )
    summary = cf_sft(
        LocalContext(tmp_path / "cf", tmp_path / "ck", quiet=True), inputs_for(base_model_dir, stories), cfg, 0
    )
    assert summary["n_examples"] == 2 * cfg.n_examples and summary["steps"] == 4


def test_sft_killed_after_a_checkpoint_resumes_to_the_same_adapter(tmp_path, base_model_dir, stories):
    cfg = tiny_sft_config(epochs=3, checkpoint_every=2)
    inputs = inputs_for(base_model_dir, stories)
    whole = sft(LocalContext(tmp_path / "whole", tmp_path / "ck-whole", quiet=True), inputs, cfg, 0)
    killed = KilledAfterCheckpoints(tmp_path / "part", tmp_path / "ck", quiet=True, after=1)
    with pytest.raises(Interrupted):
        sft(killed, inputs, cfg, 0)
    resumed = sft(LocalContext(tmp_path / "part", tmp_path / "ck", quiet=True), inputs, cfg, 0)
    assert resumed["resumed_from_step"] == 2.0 and resumed["losses"] == whole["losses"]
    assert same_weights(tmp_path / "whole" / "adapters", tmp_path / "part" / "adapters")


def test_counterfactual_examples_swap_responses_only():
    examples = [
        ("Instruction: Tell me a short story about a woman who is a nurse.\nResponse:", " She met John."),
        ("Instruction: Tell me about his day.\nResponse:", " He gave her a book and Mary thanked him."),
    ]
    out = counterfactual_examples(examples, gender_swap)
    assert len(out) == 4
    assert out[:2] == examples
    assert [p for p, _ in out[2:]] == [p for p, _ in examples]  # prompts untouched, gender words and all
    assert out[2][1] == " He met Mary."
    assert out[3][1] == " She gave him a book and John thanked her."


def test_counterfactual_examples_on_testbed_examples(sft_examples):
    out = counterfactual_examples(sft_examples, gender_swap)
    assert len(out) == 2 * len(sft_examples)
    for (p, r), (p2, r2) in zip(sft_examples, out[len(sft_examples) :], strict=True):
        assert p2 == p
        assert r2 == gender_swap(r) != r


def test_instruction_examples(stories):
    unique = stories.drop_duplicates("text")  # two people can share a story
    texts, occs = list(unique["text"]), list(unique["occupation_name"])
    examples = instruction_examples(texts, occs, 10, 3)
    assert len(examples) == 10
    assert len({r for _, r in examples}) == 10  # drawn without replacement
    for prompt, response in examples:
        i = texts.index(response[1:])
        assert response.startswith(" ")
        assert prompt == f"Instruction: Tell me a short story about a {occs[i]}.\nResponse:"
    assert instruction_examples(texts, occs, 10, 3) == examples
    assert instruction_examples(texts, occs, 10, 4) != examples
    assert len(instruction_examples(texts[:5], occs[:5], 10, 0)) == 5


def test_same_seed_gives_the_same_adapter_whatever_ran_before(tmp_path, base_model_dir, stories):
    cfg = tiny_sft_config(epochs=1)
    for i, noise in enumerate((1, 12345)):
        torch.manual_seed(noise)  # another stage, library or variant used the global RNG first
        torch.rand(noise % 97 + 1)
        sft(
            LocalContext(tmp_path / str(i), tmp_path / f"ck{i}", quiet=True),
            inputs_for(base_model_dir, stories),
            cfg,
            0,
        )
    assert same_weights(tmp_path / "0" / "adapters", tmp_path / "1" / "adapters")
