# The production image: gunicorn for web, the same image for the Celery worker and beat.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 METERBOARD_MODE=production
WORKDIR /app
COPY pyproject.toml README.md ./
COPY console ./console
COPY accounts ./accounts
COPY usage ./usage
COPY costs ./costs
RUN pip install --no-cache-dir .
COPY . .
# collectstatic needs settings; a throwaway key and host are enough to build the manifest.
RUN SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput
RUN useradd --system --home /app meterboard && chown -R meterboard /app
USER meterboard
EXPOSE 8000
CMD ["gunicorn", "console.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
