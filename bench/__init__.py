"""Benchmarks: this engine against Celery and DBOS in the same run (`python -m bench`)."""
