"""LoRA SFT of the base model: baseline SFT vs counterfactual (CDA) SFT."""

from flows.stage import make_stage_flow

finetune_flow = make_stage_flow("finetune", __doc__)

if __name__ == "__main__":
    finetune_flow()
