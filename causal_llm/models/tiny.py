"""The small GPT-2-style model pre-training trains from scratch, and its locally trained tokenizer."""

from __future__ import annotations

from dataclasses import dataclass

from typing import TYPE_CHECKING

from causal_llm.config import require

if TYPE_CHECKING:
    from transformers import GPT2LMHeadModel, PreTrainedTokenizerBase, PreTrainedTokenizerFast

EOS = "<|endoftext|>"
PAD = "<|pad|>"


@dataclass(frozen=True)
class TinyGPT2Config:
    """The architecture (``pretrain.defaults.model``); the tokenizer is trained to ``vocab_size``."""

    vocab_size: int = 2048
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 128
    dropout: float = 0.1  # GPT-2's default for residual, embedding and attention dropout

    def __post_init__(self) -> None:
        require(self.n_embd % self.n_head == 0, "model.n_embd must be divisible by model.n_head")
        require(self.vocab_size >= 300, "model.vocab_size must be >= 300 (256 bytes + specials + merges)")
        require(self.n_layer >= 1 and self.block_size >= 8, "model.n_layer must be >= 1 and model.block_size >= 8")
        require(0 <= self.dropout < 1, "model.dropout must be in [0, 1)")


def train_tokenizer(texts: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on ``texts`` (GPT-2's scheme, trained locally)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS, pad_token=PAD)


def build_tiny_gpt2(spec: TinyGPT2Config, tokenizer: PreTrainedTokenizerBase, seed: int) -> GPT2LMHeadModel:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=spec.block_size,
        n_embd=spec.n_embd,
        n_layer=spec.n_layer,
        n_head=spec.n_head,
        resid_pdrop=spec.dropout,
        embd_pdrop=spec.dropout,
        attn_pdrop=spec.dropout,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    return GPT2LMHeadModel(config)
