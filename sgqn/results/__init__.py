"""The paper's numbers to compare runs with, and what runs draw.

Contents:
    published  the SGQN paper's published numbers, every printed cell, shipped as package data.
    figures    saliency figures (one agent's maps; several agents on the same frames).

A run's results files (``evals/*.json``, ``results.json``) are ``dmcgb.protocol.results``:
written by the benchmark's protocol, which needs no torch, so any agent's evaluation
(``dmcgb.evaluate``) writes what ``sgqn.report`` reads.
"""
