# The service's one image: API (gunicorn), partition workers, general worker, beat and Flower
# all run from it with different commands (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    DATA_DIR=/app/data

WORKDIR /app

# psycopg2-binary ships its own libpq: no compiler or headers needed.
COPY requirements.txt .
RUN pip install -r requirements.txt

RUN groupadd --system app && useradd --system --gid app --home-dir /app --no-create-home app
COPY --chown=app:app . .
RUN mkdir -p /app/data /app/metrics && chown app:app /app/data /app/metrics
USER app

EXPOSE 8000 5555
# The API alone, through the launcher (gunicorn with the service's logging and metrics folder).
CMD ["python", "-m", "workers", "run", "--partitions", "none", "--no-general", "--no-beat", \
     "--web", "0.0.0.0:8000", "--web-workers", "4", "--web-threads", "8"]
