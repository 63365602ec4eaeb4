"""Networks the pipeline trains itself."""
