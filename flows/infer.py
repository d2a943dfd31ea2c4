"""Each inference variant (prompting strategy, ...) answers the testbed's causal questions with every model it names."""

from flows.stage import make_stage_flow

infer_flow = make_stage_flow("infer", __doc__)

if __name__ == "__main__":
    import asyncio

    asyncio.run(infer_flow())
