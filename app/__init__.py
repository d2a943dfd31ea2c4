"""The top layer, above the library: the command line and server supervision (it may import Prefect and flows)."""
