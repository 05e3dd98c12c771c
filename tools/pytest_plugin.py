"""pytest plugin of tcpcheck (registered through the ``pytest11`` entry point)."""
