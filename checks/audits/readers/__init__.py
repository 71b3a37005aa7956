"""Evidence readers per platform: each module registers `@reader(KEY)` functions (gather.py)."""
