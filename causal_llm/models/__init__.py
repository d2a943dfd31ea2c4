"""Models: the tiny GPT-2 and its tokenizer (``tiny``), the offline SmolLM2 (``pretrained``), LoRA
settings (``lora``) and saving/loading with self-contained bundles (``loading``).

Import from the submodules: ``tiny`` and ``lora`` stay light so that params can be validated
without importing torch.
"""
