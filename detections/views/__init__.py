"""Pages of the detections app, one module per concern (strategies, rules)."""
