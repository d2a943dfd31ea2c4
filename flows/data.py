"""The SCM testbed corpus and one corpus per data variant (CDA, CDS, ...)."""

from flows.stage import make_stage_flow

data_flow = make_stage_flow("data", __doc__)

if __name__ == "__main__":
    import asyncio

    asyncio.run(data_flow())
