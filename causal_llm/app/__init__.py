"""The top layer: the command line and server supervision (the only library code that may import Prefect or flows)."""
