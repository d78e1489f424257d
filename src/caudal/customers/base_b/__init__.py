"""Base B: score data (income sources, assets) and the credit score."""
