"""tcpcheck tools, by concept: ``cli`` (one module per command), ``generate``
(suites and emitters), ``runner`` (stacks under test), ``pictures``
(diagram, sequence charts, report), ``export`` (Promela).

Everything here reads the model (``tcpcheck.model``); the model never
imports tools.
"""
