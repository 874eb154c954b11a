"""The benchmark's settings: the product's, with the old design's endpoint mounted and every
answer telling how many SQL statements it took (``bench.probes``)."""

from config.settings import *  # noqa: F403
from config.settings import MIDDLEWARE

ROOT_URLCONF = "bench.legacy.urls"
MIDDLEWARE = ["bench.probes.QueryCountMiddleware", *MIDDLEWARE]

if PRODUCTION:  # noqa: F405
    raise ImproperlyConfigured(  # noqa: F405
        "ENVIRONMENT=production refuses bench.legacy.settings: the old design's endpoint is for "
        "the benchmark only."
    )
