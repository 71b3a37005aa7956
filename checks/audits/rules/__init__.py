"""Rule definitions, one module per checklist section; `checks.audits.catalogue` assembles them."""
