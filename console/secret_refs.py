"""Secret references: where a secret lives, never the secret itself, and where it may live.

Every setting that names a secret (probe auth, a webhook's secret header, a Slack or webhook URL
kept secret) holds a reference, resolved in the process that sends, at send time:
- `env:NAME` — an environment variable whose name starts with one of FLEET_SECRET_ENV_PREFIXES;
- `file:/absolute/path` — a regular file under one of FLEET_SECRET_DIRS, which is how Cloud Run,
  ECS, Container Apps and Kubernetes mount secrets from their secret managers.

The allow-list is the deployer's: an operator can only point at secrets the deployment put there
for that purpose. The console's own secrets are never resolvable, whatever the allow-list says:
every variable the settings read (SECRET_KEY, DATABASE_URL, ...), cloud SDK credentials, files
under the checkout and VAR_DIR (secret key, SQLite database), the platform's own service-account
tokens, and /proc, /sys, /dev. The same rules run when a reference is saved (so the operator hears
at once) and when it is used (so a deployment whose allow-list shrank refuses old references).
Errors name the reference and the rule, never a value.
"""

from __future__ import annotations

import os
import re
import stat

from django.conf import settings

ENV_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}\Z")
REF_HELP = "env:NAME (NAME in upper-case letters, digits and '_') or file:/absolute/path"
MAX_FILE_BYTES = 64 * 1024

# Credentials of the console itself and of the cloud SDKs it uses, beyond what settings read.
NEVER_ENV_NAMES = frozenset(
    {
        "SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "EMAIL_URL",
        "CELERY_BROKER_URL",
        "KUBECONFIG",
        "PGPASSWORD",
        "PGPASSFILE",
        "DJANGO_SETTINGS_MODULE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    }
)
NEVER_ENV_PREFIXES = (
    "AWS_",
    "GOOGLE_",
    "GCLOUD_",
    "CLOUDSDK_",
    "AZURE_",
    "ARM_",
    "MSI_",
    "IDENTITY_",
    "KUBE",
    "DJANGO_",
    "CELERY_",
    "FLEET_CLOUD_",  # emulator switches and endpoints, read outside the settings module
    "FLEET_GCP_",
    "FLEET_SECRET_ENV_PREFIXES",
    "FLEET_SECRET_DIRS",
)
# Files the cloud SDKs read credentials from, named by these variables when set.
_CREDENTIAL_FILE_VARS = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "KUBECONFIG",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_FEDERATED_TOKEN_FILE",
    "PGPASSFILE",
)
# The platforms' own identity tokens, mounted under the default secret directories.
_NEVER_DIRS = (
    "/proc",
    "/sys",
    "/dev",
    "/run/secrets/kubernetes.io",
    "/var/run/secrets/kubernetes.io",
    "/run/secrets/eks.amazonaws.com",
    "/var/run/secrets/eks.amazonaws.com",
    "/run/secrets/azure",
    "/var/run/secrets/azure",
    "~/.aws",
    "~/.kube",
    "~/.azure",
    "~/.config/gcloud",
)


class SecretRefError(Exception):
    """A reference that is refused or has nothing behind it; the message names the reference."""


def is_ref(value: str) -> bool:
    return value.startswith(("env:", "file:"))


def allow_list_text() -> str:
    """The deployer's allow-list in one sentence, for error messages."""
    prefixes = settings.FLEET_SECRET_ENV_PREFIXES
    if prefixes == ("",):
        env_part = "env: any variable name"
    elif prefixes:
        env_part = "env: names starting with " + " or ".join(prefixes)
    else:
        env_part = "env: none"
    dirs = settings.FLEET_SECRET_DIRS
    file_part = "file: under " + ", ".join(dirs) if dirs else "file: none"
    return (
        f"the allow-list set by FLEET_SECRET_ENV_PREFIXES and FLEET_SECRET_DIRS is {env_part}; "
        f"{file_part}"
    )


def ref_problem(value: str) -> str | None:
    """Why `value` cannot be saved as a secret reference, or None when it can."""
    kind, _, rest = value.partition(":")
    if kind == "env":
        if not ENV_NAME_RE.match(rest):
            return f"'{rest}' is not an environment variable name: use {REF_HELP}."
        return _env_problem(rest)
    if kind == "file":
        if not rest.startswith("/") or "\x00" in rest or len(rest) < 2:
            return f"'{rest}' is not an absolute file path: use {REF_HELP}."
        return _file_problem(rest)
    return (
        f"must be {REF_HELP}: a reference to where the secret lives, never the secret itself. "
        "Secrets are not accepted directly (they would be stored and shown): put the value in "
        "an allowed environment variable or secret file and give its reference."
    )


def resolve(ref: str) -> str:
    """The secret behind `ref`, after the same rules as at save time plus the file's own checks.

    Raises SecretRefError naming the reference, never the value.
    """
    problem = ref_problem(ref)
    if problem:
        raise SecretRefError(problem)
    kind, _, rest = ref.partition(":")
    value = os.environ.get(rest, "") if kind == "env" else _read_file(rest)
    value = value.strip()
    if not value:
        where = f"environment variable {rest} is not set" if kind == "env" else f"{rest} is empty"
        raise SecretRefError(f"{ref}: {where}")
    if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
        raise SecretRefError(f"{ref}: the value contains a line break or control character")
    return value


def file_ref_problem(value: str, what: str = "PEM file") -> str | None:
    """Why `value` cannot be saved as a reference to a mounted file (a CA bundle, a client
    certificate or key): it must be `file:/path` inside FLEET_SECRET_DIRS."""
    if not value.startswith("file:"):
        return (
            f"must be file:/absolute/path to a mounted {what} inside {allow_list_text()} "
            "(a reference, never the PEM itself)."
        )
    return ref_problem(value)


def resolve_pem(ref: str) -> str:
    """The PEM text behind a `file:` reference (line breaks kept), after the same rules as
    `resolve`. Raises SecretRefError naming the reference, never the content."""
    problem = file_ref_problem(ref)
    if problem:
        raise SecretRefError(problem)
    text = _read_file(ref.partition(":")[2])
    if "-----BEGIN " not in text:
        raise SecretRefError(f"{ref}: the file holds no PEM block (-----BEGIN ...)")
    return text


# -- rules ---------------------------------------------------------------------------------------


def _env_problem(name: str) -> str | None:
    if _console_own_variable(name):
        return (
            f"env:{name} is refused: {name} is one of the console's own settings or cloud "
            "credentials, which are never resolvable."
        )
    if not any(name.startswith(p) for p in settings.FLEET_SECRET_ENV_PREFIXES):
        return f"env:{name} is refused: it is outside {allow_list_text()}."
    return None


def _console_own_variable(name: str) -> bool:
    return (
        name in NEVER_ENV_NAMES
        or name in settings.SETTINGS_ENV_NAMES
        or name.startswith(NEVER_ENV_PREFIXES)
    )


def _file_problem(path: str) -> str | None:
    if ".." in path.split("/"):
        return f"file:{path} is refused: '..' is not allowed in a secret path."
    real = os.path.realpath(path)  # symlinks resolved: where the bytes really are
    if any(_within(real, own) for own in _console_own_paths()):
        return (
            f"file:{path} is refused: it is one of the console's own files (its checkout, "
            "VAR_DIR, database, secret key or platform credentials), which are never resolvable."
        )
    if not any(_within(real, os.path.realpath(d)) for d in settings.FLEET_SECRET_DIRS):
        return f"file:{path} is refused: it is outside {allow_list_text()}."
    return None


def _console_own_paths() -> list[str]:
    paths = [settings.BASE_DIR, settings.VAR_DIR, *_NEVER_DIRS]
    for db in settings.DATABASES.values():
        if "sqlite" in db.get("ENGINE", "") and db.get("NAME"):
            # the database and the journals SQLite keeps beside it (WAL mode: -wal and -shm)
            paths += [f"{db['NAME']}{suffix}" for suffix in ("", "-wal", "-shm", "-journal")]
    for var in _CREDENTIAL_FILE_VARS:
        paths += [p for p in os.environ.get(var, "").split(os.pathsep) if p.startswith("/")]
    return [os.path.realpath(os.path.expanduser(str(p))) for p in paths]


def _within(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _read_file(path: str) -> str:
    """Read a regular file of at most MAX_FILE_BYTES; fifos, devices and /proc are refused."""
    real = os.path.realpath(path)
    if problem := _file_problem(real):  # what is opened is what was checked
        raise SecretRefError(problem)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(real, flags)
    except OSError as exc:
        raise SecretRefError(f"cannot read the secret file {path}: {exc.strerror}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SecretRefError(f"file:{path} is refused: it is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise SecretRefError(
                f"file:{path} is refused: it is larger than {MAX_FILE_BYTES // 1024} KiB"
            )
        data = os.read(fd, MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SecretRefError(f"cannot read the secret file {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise SecretRefError(
            f"file:{path} is refused: it is larger than {MAX_FILE_BYTES // 1024} KiB"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretRefError(f"file:{path}: the file is not UTF-8 text") from None
