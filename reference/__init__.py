"""The classic Grad-CAM recipes, written as their sources do and independent of `cams`.

Tests use them as oracles: a `cams` backend must reproduce what the recipe computes.
"""
