"""Generate the causal benchmarks with exact answers (CLadder-style, Corr2Cause-style, testbed probes)."""

from flows.stage import make_stage_flow

benchmarks_flow = make_stage_flow("benchmarks", __doc__)

if __name__ == "__main__":
    import asyncio

    asyncio.run(benchmarks_flow())
