"""What runs inside the actors: the model copy and its loops, feeds, timer buffers and wire
format; the collector and its collaborators (storage and budget, stopping rules, live figures).

Nothing here talks to the driver's cluster planning; everything here runs in a Ray actor (or in
the calling process with ``multiprocess=False``). Imports ``core``, ``backends`` and ``report``.
"""
