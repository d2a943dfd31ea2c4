"""Shared fixtures for the unit tests: tiny tokenizers, tiny GPT-2 models and testbed data.

Everything is built in-process from a handful of sentences; nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from causal_llm import testbed
from causal_llm.data.cda import gender_swap
from causal_llm.models.loading import save_model
from causal_llm.models.tiny import TinyGPT2Config, build_tiny_gpt2, train_tokenizer
from tests.unit.helpers import story_records, tiny_sft_config

SMALL_SPEC = TinyGPT2Config(vocab_size=300, n_layer=1, n_head=2, n_embd=32, block_size=64)


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """The models here are tiny: one torch thread is ~50x faster than a pool on a busy 2-core box
    (no hand-off per op). Restored afterwards so tests outside tests/unit are not affected."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


def _sentences() -> list[str]:
    occupations = ("nurse", "engineer", "pilot", "secretary", "mechanic")
    pronouns = ("she", "he")
    endings = (
        "was ready for work.",
        "liked the new job.",
        "had arrived early.",
        "took the course.",
        "was happy.",
    )
    out = [f"The {occ} said that {pro} {end}" for occ, pro, end in itertools.product(occupations, pronouns, endings)]
    return out[:50]


SENTENCES = _sentences()


@pytest.fixture(scope="session")
def sentences() -> list[str]:
    return list(SENTENCES)


@pytest.fixture(scope="session")
def tiny_tokenizer():
    """A byte-level BPE tokenizer with 300 entries, trained on ~50 short sentences."""
    return train_tokenizer(SENTENCES, 300)


@pytest.fixture(scope="session")
def single_thread():
    """The one_torch_thread context manager, for module- and session-scoped fixtures."""
    return one_torch_thread


@pytest.fixture(scope="session")
def make_tiny_model(tiny_tokenizer) -> Callable[..., torch.nn.Module]:
    """Factory: a fresh, randomly initialised 1-layer GPT-2 (eval mode) for the tiny tokenizer."""

    def make(seed: int = 0, spec: TinyGPT2Config = SMALL_SPEC, tokenizer=None) -> torch.nn.Module:
        return build_tiny_gpt2(spec, tokenizer or tiny_tokenizer, seed).eval()

    return make


@pytest.fixture(scope="session")
def stories():
    """200 testbed stories with the ground-truth SCM variables (spurious strength 0.9)."""
    return testbed.generate_stories(0.9, 200, 0)


@pytest.fixture(scope="session")
def judgements(stories):
    return testbed.generate_judgements(stories, gender_swap)


@pytest.fixture(scope="session")
def questions():
    """The rung 1-3 questions (exact SCM queries: a few seconds, so computed once)."""
    return testbed.generate_questions(0.9)


@pytest.fixture(scope="session")
def story_tokenizer(stories, judgements):
    """A tokenizer with a larger vocabulary, so judgement prompts fit in 64 tokens."""
    texts = list(stories["text"]) + [j.prompt for j in judgements] + [j.counterfactual_prompt for j in judgements]
    return train_tokenizer(texts, 1000)


@pytest.fixture(scope="session")
def base_model_dir(tmp_path_factory, story_tokenizer) -> Path:
    """A saved tiny GPT-2 folder (safetensors + tokenizer) to fine-tune from."""
    out = tmp_path_factory.mktemp("base") / "model"
    with one_torch_thread():
        save_model(build_tiny_gpt2(SMALL_SPEC, story_tokenizer, 0), story_tokenizer, out)
    return out


@pytest.fixture(scope="session")
def sft_examples(stories):
    from causal_llm.finetune.sft import instruction_examples

    return instruction_examples(list(stories["text"]), list(stories["occupation_name"]), 16, 0)


@pytest.fixture(scope="session")
def sft_run(tmp_path_factory, base_model_dir, stories):
    """(bundle folder, summary): a LoRA SFT bundle on the tiny base model (under a second)."""
    from causal_llm.finetune.sft import sft
    from causal_llm.training.context import LocalContext

    root = tmp_path_factory.mktemp("sft")
    out = root / "bundle"
    inputs = {"base": str(base_model_dir), "stories": story_records(stories), "node": "finetune/sft"}
    with one_torch_thread():
        summary = sft(LocalContext(out, root / "ckpt", quiet=True), inputs, tiny_sft_config(), 0)
    return out, summary
