"""The explainable scorecard and its cache."""
