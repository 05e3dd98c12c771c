"""The census of live TCP sockets: every socket of the host or of one
network namespace (sock_diag), grouped and explained with the spec.

* ``collect``  the I/O: sockets, their owning processes, the kernel's
  counters and settings, read inside the chosen namespace
* ``findings`` the explanation: groups, and a finding per pattern the
  troubleshooting articles describe, with the spec's reason (pure)
"""
