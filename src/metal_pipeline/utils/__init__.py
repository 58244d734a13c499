"""Small helpers shared by every area (no Kedro imports)."""
