"""``python -m bench``: the new design against the old one; see bench/run.py."""
