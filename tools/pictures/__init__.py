"""Pictures: the state diagram drawn like RFC 9293 Figure 5 (``diagram``),
message sequence charts of counterexamples and scenarios (``msc``), and the
self-contained HTML conformance report (``report``)."""
