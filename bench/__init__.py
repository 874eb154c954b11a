"""``python -m bench``: the new design against the old one (bench/__main__.py)."""
