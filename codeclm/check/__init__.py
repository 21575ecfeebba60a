"""The filter check: the filter's own decision graded on labelled items, calibration of theta, trivial baselines."""
