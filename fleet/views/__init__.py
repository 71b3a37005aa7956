"""Registry and dashboard pages."""
