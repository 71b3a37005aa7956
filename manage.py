#!/usr/bin/env python
"""Django's command-line utility for MCP Fleet Console."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    if len(sys.argv) > 1 and sys.argv[1] == "up":
        # The quickstart runs on the embedded default (SQLite, filesystem broker, generated secret)
        # unless the environment says otherwise. Chosen explicitly here, never as a silent fallback.
        os.environ.setdefault("EMBEDDED", "1")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"Configuration error: {exc}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
