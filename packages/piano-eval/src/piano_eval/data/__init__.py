"""Data for piano-eval: loaders for MAESTRO v3, PercePiano and a folder of your own recordings, piece-disjoint
folds, and the synthetic benchmark (scores → expressive performances with labelled degradations → audio)."""
