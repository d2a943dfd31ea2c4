"""Generate the SCM testbed corpus, its CDA copy and the rung 1-3 questions."""

from flows.stage import make_stage_flow

data_flow = make_stage_flow("data", __doc__)

if __name__ == "__main__":
    data_flow()
