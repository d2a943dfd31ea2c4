"""Every model answers the testbed's causal questions, direct vs causal-graph prompting."""

from flows.stage import make_stage_flow

infer_flow = make_stage_flow("infer", __doc__)

if __name__ == "__main__":
    infer_flow()
