"""The OLD design, the benchmark's baseline: the product with ``/legacyapi/book/`` mounted.
The benchmark's stack runs with ``DJANGO_SETTINGS_MODULE=bench.legacy.settings``.

The product's package is imported first, on purpose: ``config/__init__`` loads the Celery app,
which reads the settings; imported from ``bench.legacy.settings`` instead, it would find that
module half-loaded (``config.settings_test`` works the same way).
"""

import config  # noqa: F401
