"""Keras: model objects through the API, legacy HDF5 and .weights.h5, .keras zips, config audit."""
