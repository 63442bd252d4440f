"""scikit-learn: fitted estimators through their attributes, skops files (exact trust list), pickle
only with --trust."""
