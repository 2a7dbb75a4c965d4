"""model_adapters."""
