"""Test settings: the production settings with test-friendly values, set before they are read.

`DATABASE_URL` and `REDIS_URL` from the environment are honoured (CI runs on Postgres and Redis);
without them the suite runs on SQLite with an in-memory broker.
"""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="fleet-console-test-"))
os.environ.setdefault("LOG_JSON", "0")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# Embedded defaults fill in whatever the environment leaves out (SQLite, filesystem broker).
os.environ["EMBEDDED"] = "1"

from console.settings import *  # noqa: E402,F403

if not os.environ.get("REDIS_URL"):
    CELERY_BROKER_URL = "memory://"
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Tasks run in-process unless a test starts a real worker (see tests/test_celery_worker.py).
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
ALLOWED_HOSTS = ["*"]
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# The cache outlives each test: wrong tokens sent by many tests would add up and lock the test
# client's address. The throttle's own tests set a low limit.
FLEET_API_TOKEN_FAILURE_LIMIT = 1_000_000
