from .attack import Tactic, Technique
from .rules import (
    AnalyticState,
    BatchDetection,
    DetectionRule,
    DetectionRun,
    Indicator,
    IndicatorList,
    RuleMatch,
)
from .strategy import (
    BlindSpot,
    ExtraSection,
    FalsePositive,
    Resource,
    ResponseStep,
    Strategy,
    StrategyTechnique,
    ValidationScenario,
    ValidationStep,
)

__all__ = [
    "AnalyticState",
    "BatchDetection",
    "BlindSpot",
    "DetectionRule",
    "DetectionRun",
    "ExtraSection",
    "FalsePositive",
    "Indicator",
    "IndicatorList",
    "Resource",
    "ResponseStep",
    "RuleMatch",
    "Strategy",
    "StrategyTechnique",
    "Tactic",
    "Technique",
    "ValidationScenario",
    "ValidationStep",
]
