"""Reading, validating and resizing anomaly-detection image folders (no Kedro imports)."""
