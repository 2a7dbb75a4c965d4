"""Tasks: the six MMLongBench-Write tasks, the LongWrite-V-Ruler and ``custom`` (user data)."""
