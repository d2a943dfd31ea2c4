"""One LoRA fine-tune per variant (SFT, counterfactual SFT, ...) of the model it starts from (Ray Train)."""

from flows.stage import make_stage_flow

finetune_flow = make_stage_flow("finetune", __doc__)

if __name__ == "__main__":
    import asyncio

    asyncio.run(finetune_flow())
