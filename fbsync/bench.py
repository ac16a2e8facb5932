"""``python -m fbsync.bench [GROUP…]``: the benchmarks (they live in :mod:`fbsync.dev.bench`)."""

if __name__ == "__main__":
    import sys

    from fbsync.dev import bench

    sys.exit(bench.main())
