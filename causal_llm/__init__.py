"""causal-llm: causality across the whole life of a language model (docs/architecture.md)."""
