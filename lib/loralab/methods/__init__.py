"""The methods a study compares, in the order its tables list them.

To add a baseline: write a `Method` subclass (see base.py) and add it to `REGISTRY`.
"""

from .base import Method, MethodResult, Study
from .classic import TfidfLogisticRegression
from .lora import HeadConfiguration, TrainedConfiguration
from .prompting import CalibratedZeroShot, FewShot, FewShotBias, ZeroShot, ZeroShotBias
from .rules import LabelTermRule, MajorityClass

REGISTRY: list[type[Method]] = [
    MajorityClass,
    LabelTermRule,
    ZeroShot,
    CalibratedZeroShot,
    ZeroShotBias,
    FewShot,
    FewShotBias,
    TfidfLogisticRegression,
    TrainedConfiguration,
    HeadConfiguration,
]

__all__ = ["REGISTRY", "Method", "MethodResult", "Study"]
