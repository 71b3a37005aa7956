"""Alert channels (webhook, Slack webhook, email), routing, silences and delivery."""
