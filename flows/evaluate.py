"""Bias, counterfactual invariance, perplexity and benchmarks of every model, with CIs: one node per model."""

from flows.stage import make_stage_flow

evaluate_flow = make_stage_flow("evaluate", __doc__)

if __name__ == "__main__":
    import asyncio

    asyncio.run(evaluate_flow())
