"""``python -m tcpcheck``: the same command line as the ``tcpcheck`` script."""

from tcpcheck.tools.cli import main

if __name__ == "__main__":
    main()
