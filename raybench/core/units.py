"""Time units, defined once. raybench keeps integer nanoseconds everywhere and converts to
milliseconds or seconds only for reports."""

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
NS_PER_US = 1_000
