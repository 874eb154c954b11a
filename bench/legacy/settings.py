"""The benchmark's settings: the product's, with the old design's endpoint mounted."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.legacy.urls"
