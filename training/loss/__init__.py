"""Losses of ``pros train``, one per file: the ProS matching loss, DINO's loss, teacher normalisations
(centering, Sinkhorn-Knopp) and the optional regularizers (me-max, KoLeo)."""
