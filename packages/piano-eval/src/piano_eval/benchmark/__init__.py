"""The synthetic benchmark run: data → each model family trained on training pieces → held-out evaluation → report."""
