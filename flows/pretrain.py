"""Tokenizer + GPT-2-style model from scratch on the original and the CDA corpus (Ray Train)."""

from flows.stage import make_stage_flow

pretrain_flow = make_stage_flow("pretrain", __doc__)

if __name__ == "__main__":
    pretrain_flow()
