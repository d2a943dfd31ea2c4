"""Bias, counterfactual invariance, causal accuracy and perplexity per variant, with CIs."""

from flows.stage import make_stage_flow

evaluate_flow = make_stage_flow("evaluate", __doc__)

if __name__ == "__main__":
    evaluate_flow()
