"""A run's settings: declared once (sections.py), grouped in sections, with named recipes (recipes.py)."""

from cnnlab.settings.recipes import RECIPES
from cnnlab.settings.sections import (
                                      SECTIONS,
                                      AugmentSettings,
                                      DataSettings,
                                      ModelSettings,
                                      OptimSettings,
                                      RunSettings,
                                      Settings,
                                      recipe,
                                      resolve,
)

__all__ = ["RECIPES", "SECTIONS", "AugmentSettings", "DataSettings", "ModelSettings", "OptimSettings",
           "RunSettings", "Settings", "recipe", "resolve"]
