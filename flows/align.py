"""DPO on counterfactual preference pairs on top of the baseline SFT model."""

from flows.stage import make_stage_flow

align_flow = make_stage_flow("align", __doc__)

if __name__ == "__main__":
    align_flow()
