"""The STF network, its spatio-temporal focus and losses."""
from .focus import FocusResult, compute_focus
from .fusion import fold_batchnorm
from .losses import LossConfig, stf_step_losses
from .stf import STF, LogitsOnly, ModelConfig, STFOutput

__all__ = ["STF", "LogitsOnly", "ModelConfig", "STFOutput", "FocusResult", "compute_focus", "LossConfig",
           "stf_step_losses", "fold_batchnorm"]
