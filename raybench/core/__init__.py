"""The bottom room: what every other room shares.

Errors (``errors``), the option groups and their validation (``options``), the plain data that
crosses stage and process boundaries — configs, outcomes, the timer schema (``schema``) — the
user-side ``Timer`` (``timer``), files written atomically (``files``), logging (``log``) and
Ctrl-C handling (``interrupts``). Imports nothing else of raybench.
"""
