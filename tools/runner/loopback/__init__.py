"""The loopback runner: both endpoints are real kernel sockets on ``lo``.

Modules, from the wire up:

* ``relay``    the hold rule (nftables, in the namespace), the capture on
               ``lo`` and the deliveries: how races are made to happen
* ``observed`` an observed run as data (events, segments named in the
               model's vocabulary), JSON in and out
* ``observe``  the tracepoint's and sock_diag's views turned into each
               endpoint's RFC state path (pure)
* ``pair``     the harness (namespace, wire, tracer) and one scenario's
               two endpoints: calls, deliveries, bounded waits
* ``judge``    the run against the endpoint machine, the composed model and
               the pair properties (pure)
* ``execute``  a two-sided scenario step by step, then the judge;
               ``batch`` many; ``report`` the table and JSON

Importing this package does no I/O; a harness needs root and ``nft``.
"""
