"""Thin CLI entry points, one per Snakemake rule: `python -m talkhead.stages.<name>`."""
