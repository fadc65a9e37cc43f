"""``python -m recsvc``: the recsvc command (also the file spark-submit runs, docs/spark.md)."""

from recsvc.cli import main

if __name__ == "__main__":
    main()
