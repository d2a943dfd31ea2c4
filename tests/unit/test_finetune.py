"""LoRA SFT: adapter folders with their model chain, and counterfactual SFT examples."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from causal_llm.cda import gender_swap
from causal_llm.config import FinetuneConfig
from causal_llm.finetune import chain_of, counterfactual_examples, finetune_lora, instruction_examples
from causal_llm.models import CHAIN_FILE, describe_model, load_model, load_tokenizer

CPU = torch.device("cpu")
PROBE = "The nurse said that she was ready for work. She had many years of experience."


def logits(ref: str) -> torch.Tensor:
    tok = load_tokenizer(ref)
    model = load_model(ref, device=CPU)
    with torch.no_grad():
        return model(input_ids=torch.tensor([tok(PROBE)["input_ids"]])).logits[0]


def test_finetune_writes_an_adapter_folder_with_its_chain(sft_run, base_model_dir):
    out, result = sft_run
    names = {p.name for p in out.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", CHAIN_FILE, "tokenizer.json"} <= names
    assert "model.safetensors" not in names  # an adapter, not a full copy of the model
    stored = json.loads((out / CHAIN_FILE).read_text())
    assert not Path(stored["base"]).is_absolute() and stored["adapters"] == ["."]  # relocatable
    assert chain_of(str(out)) == (str(Path(base_model_dir).resolve()), [str(Path(out).resolve())])
    assert chain_of(str(base_model_dir)) == (str(base_model_dir), [])
    assert describe_model(str(out)) == str(base_model_dir)
    assert result.steps == 4  # 16 examples, batch 8, 2 epochs
    assert all(loss > 0 for loss in result.losses)


def test_loaded_adapter_changes_the_model(sft_run, base_model_dir):
    out, _ = sft_run
    base, tuned = logits(str(base_model_dir)), logits(str(out))
    assert base.shape == tuned.shape
    assert (base - tuned).abs().max() > 1e-3
    # the tokenizer travels with the adapter
    assert load_tokenizer(str(out))(PROBE)["input_ids"] == load_tokenizer(str(base_model_dir))(PROBE)["input_ids"]
    # loading is deterministic: the same adapter gives the same model
    torch.testing.assert_close(tuned, logits(str(out)))


def test_finetune_on_top_of_an_adapter_extends_the_chain(tmp_path, sft_run, base_model_dir, sft_examples):
    first, _ = sft_run
    cfg = FinetuneConfig(base_model=str(first), n_examples=8, batch_size=8, lr=5e-3, max_length=64)
    second = tmp_path / "second"
    finetune_lora(str(first), sft_examples[:8], cfg, 1, second)
    assert chain_of(str(second)) == (
        str(Path(base_model_dir).resolve()),
        [str(Path(first).resolve()), str(Path(second).resolve())],
    )
    assert (logits(str(second)) - logits(str(first))).abs().max() > 1e-4


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


def test_same_seed_gives_the_same_adapter_whatever_ran_before(tmp_path, base_model_dir, sft_examples):
    from safetensors.torch import load_file

    cfg = FinetuneConfig(base_model=str(base_model_dir), n_examples=8, batch_size=8, lr=5e-3, max_length=64)
    weights = []
    for i, noise in enumerate((1, 12345)):
        torch.manual_seed(noise)  # another stage, library or variant used the global RNG first
        torch.rand(noise % 97 + 1)
        finetune_lora(str(base_model_dir), sft_examples[:8], cfg, 0, tmp_path / str(i))
        weights.append(load_file(tmp_path / str(i) / "adapter_model.safetensors"))
    assert weights[0].keys() == weights[1].keys()
    for key in weights[0]:
        torch.testing.assert_close(weights[0][key], weights[1][key], rtol=0, atol=0)
