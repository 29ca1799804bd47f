"""Scale: streaming ingestion, template-aware reasoning, answer cache, bounded concurrency."""
