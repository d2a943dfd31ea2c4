"""One table of variant x metric with CIs, plots, logged to the parent run."""

from flows.stage import make_stage_flow

report_flow = make_stage_flow("report", __doc__)

if __name__ == "__main__":
    import asyncio

    asyncio.run(report_flow())
