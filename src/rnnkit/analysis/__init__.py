"""rnnkit.analysis: measurements that show what the tutorial asserts.

* :mod:`.gradient_flow`: ``||dL/dh_t||`` against the distance to the loss for
  RNN/LSTM/GRU, spectral radius, clipping and the LSTM forget-gate bias.
* :mod:`.memory_tasks`: the adding problem (data only).
* :mod:`.long_range`: the longest adding problem each cell solves under a
  fixed training budget.
* :mod:`.plots`: the PNG figure (matplotlib imported lazily).
* :mod:`.report`: what ``rnnkit analyze gradients`` writes.
"""

from .gradient_flow import (
    GradientCurve,
    GradientFlowStudy,
    clip_coefficient,
    gradient_flow_study,
    gradient_norm_curve,
    hidden_state_gradients,
    scale_spectral_radius_,
)
from .long_range import (
    AddingRun,
    AddingSettings,
    LastStepRegressor,
    LongRangeResult,
    long_range_benchmark,
    train_adding,
)
from .memory_tasks import ADDING_BASELINE_MSE, adding_problem
from .report import GradientReport, analyze_gradients

__all__ = [
    "GradientCurve", "GradientFlowStudy", "clip_coefficient", "gradient_flow_study",
    "gradient_norm_curve", "hidden_state_gradients", "scale_spectral_radius_",
    "AddingRun", "AddingSettings", "LastStepRegressor", "LongRangeResult",
    "long_range_benchmark", "train_adding", "ADDING_BASELINE_MSE", "adding_problem",
    "GradientReport", "analyze_gradients",
]  # fmt: skip
