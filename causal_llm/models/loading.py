"""Saving and loading the platform's language models, and the self-contained model bundle.

A *model reference* is one string: ``smollm2-135m-instruct`` (the offline pretrained model), a
local folder (a full safetensors model, or a bundle) or a Hugging Face id for users with a network.

A *bundle* is what a fine-tuned or aligned variant saves: its LoRA adapters in order, the
tokenizer, and its base model: embedded (a copy, for models the lifecycle trained itself and any
other local model up to ``EMBED_LIMIT``) or referenced by id (SmolLM2, hub ids). A bundle loads
from its folder alone, wherever that folder is (a DVC checkout, an MLflow artifact download:
``models:/NAME@champion``). Weights load from safetensors only; ``trust_remote_code`` stays off.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from causal_llm.models.pretrained import SMOLLM2, SMOLLM2_NOTE, resolve_reference

CHAIN_FILE = "causal_llm_model.json"
BUNDLE_FORMAT = 2
EMBED_LIMIT = 256 << 20  # local base models up to this size are copied into the bundle


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def save_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def save_bundle(
    peft_model,  # noqa: ANN001
    tokenizer: PreTrainedTokenizerBase,
    out_dir: str | Path,
    base_ref: str,
    name: str,
    base_label: str | None = None,
) -> Path:
    """Save ``peft_model``'s adapter as the last step of a bundle built on ``base_ref``.

    ``base_ref`` is the model the adapter was trained on: a bundle (its base and adapters are
    carried over), a local full model (embedded when small) or an id. ``name`` labels the step
    (``finetune/sft``) in the bundle's lineage, ``base_label`` the base (``pretrain/baseline``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parent = read_bundle(base_ref)
    if parent is not None:
        base, adapters, lineage = parent["base"], list(parent["adapter_dirs"]), list(parent["lineage"])
    else:
        base, adapters, lineage = {"ref": base_ref}, [], [base_label or base_ref]
        local = Path(base_ref)
        if local.is_dir() and _folder_size(local) <= EMBED_LIMIT:
            base = {"embedded": str(local.resolve())}
        elif local.is_dir():
            base = {"ref": str(local.resolve())}  # too large to copy: referenced by absolute path
    if "embedded" in base:
        shutil.copytree(base["embedded"], out / "base", dirs_exist_ok=True)
        base = {"path": "base"}
    chain = []
    for i, adapter in enumerate([*adapters, None]):
        target = out / "adapters" / f"{i:02d}"
        if adapter is None:
            peft_model.save_pretrained(target, safe_serialization=True)
        else:
            shutil.copytree(adapter, target, dirs_exist_ok=True)
        chain.append(str(target.relative_to(out)))
    tokenizer.save_pretrained(out)
    manifest = {"format": BUNDLE_FORMAT, "base": base, "adapters": chain, "lineage": [*lineage, name]}
    (out / CHAIN_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def read_bundle(ref: str | Path) -> dict | None:
    """A bundle's base reference (resolved), adapter folders (absolute) and lineage; None for anything else."""
    folder = Path(ref)
    if not (folder / CHAIN_FILE).is_file():
        return None
    manifest = json.loads((folder / CHAIN_FILE).read_text())
    if manifest.get("format") != BUNDLE_FORMAT:
        raise ValueError(f"{folder / CHAIN_FILE}: bundle format {manifest.get('format')}, expected {BUNDLE_FORMAT}")
    base = manifest["base"]
    base_ref = str((folder / base["path"]).resolve()) if "path" in base else base["ref"]
    return {
        "base": {"embedded": base_ref} if "path" in base else base,
        "base_ref": base_ref,
        "adapter_dirs": [str((folder / a).resolve()) for a in manifest["adapters"]],
        "lineage": manifest.get("lineage", []),
    }


def read_chain(ref: str | Path) -> tuple[str, list[str]] | None:
    """(base reference, adapter folders in order) of a bundle, or None for a full model."""
    bundle = read_bundle(ref)
    return None if bundle is None else (bundle["base_ref"], bundle["adapter_dirs"])


def load_tokenizer(ref: str) -> PreTrainedTokenizerBase:
    if read_bundle(ref) is not None:
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
    """What a model is, for scorer records: its lineage for a bundle, the note for SmolLM2, else the reference."""
    bundle = read_bundle(ref)
    if bundle is not None:
        root = bundle["lineage"][0] if bundle["lineage"] else bundle["base_ref"]
        return " <- ".join([*reversed(bundle["lineage"][1:]), SMOLLM2_NOTE if root == SMOLLM2 else root])
    return SMOLLM2_NOTE if ref == SMOLLM2 else ref


def folder_files(folder: Path) -> dict[str, bytes]:
    """A small model folder as {relative path: bytes}, to ship to Ray workers on other machines."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def materialize(files: dict[str, bytes], folder: Path) -> Path:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder
