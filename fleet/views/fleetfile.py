"""Fleet file pages: export as YAML, preview an import (dry run), and import in the background.

A preview of a small file runs inside the request; a larger one (over PREVIEW_INLINE_MAX_BYTES)
could take long, so it runs as a Job like the import itself and the page polls it.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from console import jobs
from console.access import has_role
from console.origin import job_url
from fleet.fleetfile import MAX_FILE_BYTES, FleetFileError, export_fleet, import_fleet
from fleet.tasks import import_fleet_task

PREVIEW_INLINE_MAX_BYTES = 16 * 1024


@require_GET
def fleet_export(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(export_fleet(), content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="fleet.yaml"'
    return response


def _read_upload(request: HttpRequest) -> tuple[str, str]:
    """The file's text (uploaded or pasted) and an error naming the field, if any."""
    upload = request.FILES.get("file")
    if upload is not None:
        if upload.size > MAX_FILE_BYTES:
            return "", f"file: {upload.name} is larger than 2 MiB."
        try:
            return upload.read().decode("utf-8"), ""
        except UnicodeDecodeError:
            return "", f"file: {upload.name} is not UTF-8 text."
    text = request.POST.get("text", "")
    return (text, "") if text.strip() else ("", "file: choose a YAML file or paste its contents.")


@require_http_methods(["GET", "POST"])
def fleet_import(request: HttpRequest) -> HttpResponse:
    context: dict = {"text": ""}
    if request.method == "POST":
        if not has_role(request.user, "operator"):
            return render(
                request, "403.html", {"reason": "Importing needs the operator role."}, status=403
            )
        text, error = _read_upload(request)
        context["text"] = text
        if error:
            context["errors"] = [error]
        elif request.POST.get("action") == "import":
            job = jobs.enqueue("fleet import", import_fleet_task, user=request.user, args=(text,))
            return redirect(job_url(job.pk, reverse("fleet-import")))
        elif len(text.encode("utf-8", "surrogatepass")) > PREVIEW_INLINE_MAX_BYTES:
            job = jobs.enqueue(
                "fleet preview",
                import_fleet_task,
                user=request.user,
                args=(text,),
                kwargs={"dry_run": True},
            )
            return redirect(job_url(job.pk, reverse("fleet-import")))
        else:
            try:
                context["report"] = import_fleet(text, actor=request.user, dry_run=True)
            except FleetFileError as exc:
                context["errors"] = exc.errors
    status = 422 if context.get("errors") else 200
    return render(request, "fleet/fleet_import.html", context, status=status)
