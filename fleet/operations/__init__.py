"""Cloud operations: everything the console does to a service through its cloud's own API.

One sub-package with one-way dependencies:
    views, api, management commands -> services -> models, clouds (per-cloud adapters)
    tasks -> services
Services enqueue tasks after commit and import the task module lazily, inside the function.
`clouds/` holds one adapter per platform behind `clouds.base.CloudAdapter`; per-cloud knowledge
(units, quantities, API quirks) lives beside its adapter, not in the generic modules.
"""
