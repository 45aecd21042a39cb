"""Runnable examples: the seed workflow as YAML and as Python, and example functions."""
