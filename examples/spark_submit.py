"""Screen a collection with unspin on Spark.

    spark-submit --master local[4] examples/spark_submit.py INPUT OUT_DIR [--task detect|check|stats]
        [--text-field text] [--id-field id]

INPUT is read by Spark itself: a .parquet file/folder (spark.read.parquet) or JSONL (spark.read.json,
.gz fine).  OUT_DIR receives Parquet parts and _SUCCESS (Spark's own writer), one row per input row:
the id, the task's results (verdict, spun_probability, ...) and an error column.
Every executor needs unspin installed (pip install 'unspin[spark]'), or ship it with --py-files.
For WARC/HTML inputs, build the DataFrame with unspin.spark.records_dataframe (driver-side reading)
or run `unspin scan` instead.
"""
import argparse
import os
import sys

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # executors use this interpreter (with unspin)

from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from unspin.spark import scan_dataframe  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("input")
    p.add_argument("out")
    p.add_argument("--task", default="detect")
    p.add_argument("--text-field", default="text")
    p.add_argument("--id-field", default="id")
    p.add_argument("--partitions", type=int, default=0, help="repartition before scanning (0: as read)")
    a = p.parse_args(argv)
    spark = SparkSession.builder.appName("unspin-scan").getOrCreate()
    is_parquet = a.input.rstrip("/").endswith(".parquet") or os.path.isdir(a.input)
    df = spark.read.parquet(a.input) if is_parquet else spark.read.json(a.input)
    if a.id_field not in df.columns:
        df = df.withColumn(a.id_field, F.monotonically_increasing_id().cast("string"))
    df = df.select(F.col(a.id_field).cast("string").alias("id"), F.col(a.text_field).alias("text"))
    if a.partitions:
        df = df.repartition(a.partitions)
    out = scan_dataframe(df, task=a.task, text_col="text")
    out.write.mode("overwrite").parquet(a.out)
    counts = spark.read.parquet(a.out).groupBy("verdict").count().collect()
    print({r["verdict"]: r["count"] for r in counts})
    spark.stop()


if __name__ == "__main__":
    main()
