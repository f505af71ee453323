from .attack import Tactic, Technique
from .rules import (
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
