"""Checking a packet capture against the spec.

* ``capture``  reading pcap and pcapng files (dpkt) into TCP segments
* ``observer`` both endpoints' machines run as a passive observer over one
  connection's segments (pure)
* ``analyse``  connections of a capture, each checked; results as data
* ``chart``    one connection as a message sequence chart
"""
