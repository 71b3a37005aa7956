"""Cloud adapters: one interface (`base.CloudAdapter`) over Cloud Run, ECS, Container Apps, Kubernetes."""
