"""Every state change of the detections app, one module per concern (strategies, attack, quality, rules, ...)."""
