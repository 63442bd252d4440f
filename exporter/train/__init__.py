"""Training the example models (Keras and scikit-learn) on built-in, bundled or user data."""
