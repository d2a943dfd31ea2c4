"""One model per pre-training variant, each trained on its data variant's corpus (Ray Train)."""

from flows.stage import make_stage_flow

pretrain_flow = make_stage_flow("pretrain", __doc__)

if __name__ == "__main__":
    import asyncio

    asyncio.run(pretrain_flow())
