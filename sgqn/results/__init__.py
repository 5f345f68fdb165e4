"""What runs produce, and the paper's numbers to compare them with.

Contents:
    schema     the results files of a run (``evals/*.json``, ``results.json``): ModeResult and
               Evaluation, written and read back; the names of a run directory's files.
    published  the SGQN paper's published numbers, shipped as package data.
    figures    saliency figures (one agent's maps; several agents on the same frames).
"""
