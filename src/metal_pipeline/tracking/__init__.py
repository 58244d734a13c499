"""MLflow model logging, registration and loading (no Kedro imports)."""
