"""Wrappers for dmcgb envs. Frame stacking is Gymnasium's ``FrameStackObservation``."""

from dmcgb.wrappers.action_repeat import ActionRepeat

__all__ = ["ActionRepeat"]
