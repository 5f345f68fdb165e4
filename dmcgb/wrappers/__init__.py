"""Wrappers. dmcgb envs repeat actions themselves (``action_repeat=``); ``ActionRepeat`` is for
other envs. Frame stacking is Gymnasium's ``FrameStackObservation``."""

from dmcgb.wrappers.action_repeat import ActionRepeat

__all__ = ["ActionRepeat"]
