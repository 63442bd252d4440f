"""Gradient-boosted trees (XGBoost, LightGBM) read from their saved model files as data.

Nothing of xgboost or lightgbm is imported on these paths. layout.py is the canonical layout
(concatenated node arrays + tree offsets) both readers produce.
"""
