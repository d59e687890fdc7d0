# Jurisdiction Ledger API image.
#   docker build -t jurisdiction-ledger .
#   docker run -e DATABASE_URL=postgresql://user:pass@host:5432/jurisdictions -p 8000:8000 jurisdiction-ledger
# The database must be PostgreSQL with PostGIS (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Every dependency (psycopg[binary], shapely, pyproj, ...) ships manylinux
# wheels, so no compiler or system libraries are needed.
COPY . /app
RUN pip install . \
    && useradd --system --home-dir /app --shell /usr/sbin/nologin app \
    && chown -R app /app

USER app

EXPOSE 8000

# `up`: migrate, load the demo if the register is empty, catch up the
# projections, then serve.
CMD ["jurisdictions", "up", "--host", "0.0.0.0", "--port", "8000"]
