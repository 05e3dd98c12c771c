"""tcpcheck tools: command line, generator, emitters, runner, pictures.

Everything here reads the model (``model``); the model never imports tools.
"""
