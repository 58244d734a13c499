"""Kedro pipelines: one package per concern, each with nodes.py (thin) and pipeline.py."""
