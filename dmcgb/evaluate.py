"""``python -m dmcgb.evaluate``: score a policy by the benchmark's protocol (see
:mod:`dmcgb.protocol.command`). ``dmcgb.evaluate(...)`` is the function
:func:`dmcgb.protocol.runner.evaluate`.
"""

import sys
import types

from dmcgb.protocol.command import main
from dmcgb.protocol.runner import evaluate


class _CallableModule(types.ModuleType):
    """``import dmcgb.evaluate`` rebinds the package's ``evaluate`` to this module; calling the
    module calls the function, so ``dmcgb.evaluate(...)`` keeps working after such an import."""

    def __call__(self, *args, **kwargs):
        return evaluate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    raise SystemExit(main())
