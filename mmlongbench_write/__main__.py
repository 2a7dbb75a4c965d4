"""``python -m mmlongbench_write`` is the ``mmlw`` CLI."""

from mmlongbench_write.cli import main

if __name__ == "__main__":
    main()
