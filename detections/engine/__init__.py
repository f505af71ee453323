"""Sigma detection engine: Sigma rules compiled to vectorised polars expressions.

`compile_rules()` turns Sigma rule texts (or parsed pySigma rules) into a `CompiledRuleSet`
whose `match()` evaluates every rule over a batch of events (a polars DataFrame or a list of
dicts) and returns the (rule_id, row_index) pairs that matched, in row order.

Not for: Sigma correlation rules (they are parsed and handed back in `ruleset.correlations`
for the correlation layer to run on top of single-event matches), storage of matches (the
detections services do that) or reading events from sources (telemetry). No Django imports.
"""

from detections.engine.compiler import CompiledRule, RuleError
from detections.engine.ruleset import CompiledRuleSet, compile_rules

__all__ = ["CompiledRule", "CompiledRuleSet", "RuleError", "compile_rules"]
