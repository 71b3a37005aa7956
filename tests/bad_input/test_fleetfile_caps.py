"""A hostile fleet file is refused fast, with little memory, by the CLI, the preview and the import job."""

from __future__ import annotations

import io
import time
import tracemalloc

import pytest
from django.core.management import CommandError, call_command

from console.models import Job
from fleet.models import Service

pytestmark = pytest.mark.django_db

MAX_FILE_BYTES = 2 * 1024 * 1024  # fleet.fleetfile.MAX_FILE_BYTES, as the README states it


def billion_laughs() -> str:
    """Ten levels of nine aliases each: 9**10 strings once expanded, 500 bytes as written."""
    lines = ['services: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 11):
        aliases = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"x{level}: &l{level} [{aliases}]")
    return "\n".join(lines) + "\n"


HOSTILE = {
    "alias bomb": (billion_laughs(), "aliases counted in full"),
    "deep nesting": ("services: " + "[" * 40 + "]" * 40 + "\n", "nested more than 16 levels"),
    "very deep nesting": ("services: " + "[" * 100_000 + "]" * 100_000 + "\n", "nest"),
    "deep block nesting": (
        "services:\n" + "".join(" " * (i + 1) + "- \n" for i in range(200)),
        "nested more than",
    ),
    "huge integer": ("services:\n  - name: " + "9" * 1_000 + "\n", "more than 18 digits"),
    "megabyte integer": ("services:\n  - name: " + "9" * 1_000_000 + "\n", "longer than 20000"),
    "self-referencing alias": ("services: &a [*a]\n", "refers to a node that contains it"),
    "escaped NUL": (
        'services:\n  - name: x\n    team: "a\\0b"\n',
        "services[0].team: contains a NUL",
    ),
    "escaped surrogate": ('services:\n  - {name: "\\ud800"}\n', "invalid Unicode"),
    "bad timestamp": ("services: 2026-13-45\n", "month must be in 1..12"),
}


def _cli(path) -> str:
    call_command("fleet", "import", str(path), stdout=io.StringIO())
    return ""


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_cli_refuses_a_hostile_file_within_a_second_using_little_memory(tmp_path, case):
    text, shown = HOSTILE[case]
    path = tmp_path / "fleet.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(CommandError) as refused:
        _cli(path)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert shown in str(refused.value)
    assert "nothing changed" in str(refused.value)
    assert elapsed < 1.0, f"{case} took {elapsed:.2f}s"
    assert peak < 40 * 1024 * 1024, f"{case} peaked at {peak // 1024} KiB"
    assert not Service.objects.exists()


def test_cli_refuses_a_file_over_the_size_cap_without_reading_it_all(tmp_path):
    path = tmp_path / "fleet.yaml"
    path.write_text("# " + "x" * MAX_FILE_BYTES + "\n")
    with pytest.raises(CommandError, match="larger than 2 MiB"):
        _cli(path)


@pytest.mark.parametrize(
    "case", ["alias bomb", "deep nesting", "self-referencing alias", "escaped NUL"]
)
def test_web_preview_refuses_a_hostile_file_with_the_reason(operator_client, case):
    text, shown = HOSTILE[case]
    response = operator_client.post("/fleet-file/", {"text": text, "action": "preview"})
    assert response.status_code == 422
    assert shown in response.content.decode()


@pytest.mark.parametrize("case", ["alias bomb", "huge integer"])
def test_import_job_fails_with_the_reason_and_changes_nothing(
    operator_client, case, django_capture_on_commit_callbacks
):
    text, shown = HOSTILE[case]
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post("/fleet-file/", {"text": text, "action": "import"})
    assert response.status_code == 302
    job = Job.objects.get(name="fleet import")
    assert job.status == Job.Status.FAILED
    assert shown in job.log and "nothing changed" in job.error
    assert not Service.objects.exists()


def test_web_upload_over_the_size_cap_is_refused(operator_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("fleet.yaml", b"#" * (MAX_FILE_BYTES + 1))
    response = operator_client.post("/fleet-file/", {"file": upload, "action": "preview"})
    assert response.status_code == 422
    assert "larger than 2 MiB" in response.content.decode()


def test_a_large_preview_runs_as_a_job_not_inside_the_request(
    operator_client, django_capture_on_commit_callbacks
):
    services = "".join(
        f"  - name: svc-{i:05d}\n    url: http://127.0.0.1:9/mcp\n    team: platform\n"
        for i in range(250)
    )
    text = "services:\n" + services
    assert len(text) > 16 * 1024
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post("/fleet-file/", {"text": text, "action": "preview"})
    job = Job.objects.get(name="fleet preview")
    assert (
        response.status_code == 302
        and response["Location"] == f"/jobs/{job.pk}/?from=%2Ffleet-file%2F"
    )
    assert job.status == Job.Status.SUCCEEDED
    assert "Preview, nothing changed: would be 250 created" in job.log
    assert not Service.objects.exists()
