"""The methods a study compares, in the order its tables list them.

To add a baseline: write a `Method` subclass (see base.py) and add it to `REGISTRY`.
"""

from loralab.evaluate.methods.base import Method, MethodResult, Study
from loralab.evaluate.methods.classic import TfidfLogisticRegression
from loralab.evaluate.methods.lora import HeadConfiguration, TrainedConfiguration
from loralab.evaluate.methods.prompting import (
    CalibratedZeroShot,
    FewShot,
    FewShotBias,
    ZeroShot,
    ZeroShotBias,
)
from loralab.evaluate.methods.rules import LabelTermRule, MajorityClass

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
