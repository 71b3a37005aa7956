"""The strict cloud fakes the tests use: the demo's runtime emulators, under their old names.

The code lives in `fleet/demo/emulators/` because `manage.py up` serves it for the demo fleet;
`from tests.fakes.kubernetes import FakeKubernetes` keeps working and names the same module
object, so a test that changes a fake's module state changes the emulator's.
"""

import importlib
import sys

_EMULATORS = (
    "server", "patching", "tls", "kubernetes", "cloudrun", "container_apps", "billing_budgets",
    "monitoring", "gcp_logging", "compute", "aws_faults", "aws_ecs", "azure_arm",
)  # fmt: skip

for _name in _EMULATORS:
    sys.modules[f"{__name__}.{_name}"] = importlib.import_module(f"fleet.demo.emulators.{_name}")
