"""Exports of the model for other tools: Promela for SPIN (``promela``)."""
