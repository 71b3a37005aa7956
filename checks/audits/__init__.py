"""Production-readiness audits: a versioned rule catalogue run against per-service evidence."""
