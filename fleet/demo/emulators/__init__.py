"""Local emulators of the four clouds' APIs, strict about what they accept.

Each one speaks the documented REST (or gRPC) shapes of one API and cites the reference beside
each modelled behaviour: Cloud Run Admin v2, Billing Budgets, Cloud Monitoring, Cloud Logging and
Resource Manager (Google), Container Apps ARM (Azure, over HTTPS), Kubernetes apps/v1 and friends,
and the ECS deployment behaviour moto leaves out (AWS, in front of moto's server).

They are a runtime feature: `manage.py up` serves them on loopback for the demo fleet
(`fleet.demo.cloud`). The tests use the very same code (`tests.fakes` re-exports these modules).
"""
