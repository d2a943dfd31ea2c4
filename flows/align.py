"""One aligned model per variant (DPO on counterfactual preference pairs, ...) (Ray Train)."""

from flows.stage import make_stage_flow

align_flow = make_stage_flow("align", __doc__)

if __name__ == "__main__":
    import asyncio

    asyncio.run(align_flow())
