"""The ops layer: what drives systems outside the library (params-file rewriting, DVC, git, the
MLflow run layout and registry, reading runs back for comparison, the lifecycle's Ray instance,
endpoint checks). Prefect-free: the flows and tasks call these, and so do tests."""
