"""Background jobs: extract refreshes and flow runs, run for real by :mod:`.runner`."""
