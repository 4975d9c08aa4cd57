"""Training: configuration, recipes, the loop, logs, distributed runs, freezing and the learning-rate range test.

The package is also the function `cnnlab.train(...)` (notebook/api.py's `train`): `cnnlab.train` names this package
once any of its modules is imported, so the package itself is made callable rather than shadowed by a function.
"""

import sys
import types


class _CallablePackage(types.ModuleType):
    """A package that can be called: `cnnlab.train(epochs=3)` trains, `cnnlab.train.fit` is still the module."""

    def __call__(self, *args: object, **kwargs: object) -> object:
        """Train and return the run (see cnnlab.notebook.api.train)."""
        from cnnlab.notebook.api import train

        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
