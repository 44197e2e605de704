"""Ray and Spark give the same rows as the local scan (skipped unless `unspin[ray]` / `unspin[spark]`).

    pip install -e '.[ray]'    # ray[data]; starts a local Ray instance here
    pip install -e '.[spark]'  # pyspark; local mode on the installed Java 17
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import sys

import pytest

from unspin.scan import ReadOptions, read_output, scan

SENT = "The committee met on Tuesday to discuss the budget for the coming year and the new school."


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("engines")
    with open(d / "a.jsonl", "w") as f:
        for i in range(40):
            f.write(json.dumps({"id": f"a{i}", "text": f"{SENT} Number {i}."}) + "\n")
        f.write("not json\n")
    with gzip.open(d / "b.jsonl.gz", "wt") as f:
        for i in range(10):
            f.write(json.dumps({"id": f"b{i}", "text": SENT}) + "\n")
    (d / "c.txt").write_text(f"{SENT}\n\nAnother block of plain text.\n")
    return d


def local_rows(inputs, tmp_path, task="stats"):
    out = tmp_path / f"local-{task}.jsonl"
    scan([str(inputs)], str(out), task=task, workers=2, progress=False, shard_bytes=1500,
         read=ReadOptions(txt_docs="blocks"))
    return list(read_output(str(out)))


def test_ray_same_rows_as_local(inputs, tmp_path):
    pytest.importorskip("ray", reason="Ray not installed (pip install 'unspin[ray]')")
    want = local_rows(inputs, tmp_path)
    out = tmp_path / "ray.jsonl"
    s = scan([str(inputs)], str(out), task="stats", workers=2, engine="ray", progress=False, shard_bytes=1500,
             read=ReadOptions(txt_docs="blocks"))
    assert s["engine"] == "ray" and s["records"] == len(want)
    assert list(read_output(str(out))) == want  # same rows, same order
    folder = tmp_path / "rayout/"
    scan([str(inputs)], str(folder), task="stats", workers=2, engine="ray", progress=False, shard_bytes=1500,
         read=ReadOptions(txt_docs="blocks"), parts_format="parquet")
    assert os.path.exists(folder / "_SUCCESS")
    import pyarrow.dataset as ds

    got = ds.dataset(str(folder), format="parquet").to_table().to_pylist()
    key = lambda r: r["id"]  # noqa: E731
    assert sorted(got, key=key) == sorted(want, key=key)


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark", reason="PySpark not installed (pip install 'unspin[spark]')")
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        pytest.skip("PySpark needs Java (17) on PATH")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    s = (SparkSession.builder.master("local[2]").appName("unspin-test").config("spark.ui.enabled", "false")
         .config("spark.sql.shuffle.partitions", "2").getOrCreate())
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


def test_spark_same_rows_as_local(inputs, tmp_path, spark):
    from unspin.spark import detect_udf, records_dataframe, scan_dataframe

    want = local_rows(inputs, tmp_path, task="detect")
    df = records_dataframe(spark, [str(inputs)], ReadOptions(txt_docs="blocks")).repartition(2)
    got = [r.asDict(recursive=True) for r in scan_dataframe(df, task="detect").collect()]
    key = lambda r: r["id"]  # noqa: E731
    assert sorted(got, key=key) == sorted(want, key=key)
    d = df.where("error is null").limit(3).withColumn("d", detect_udf()("text")).select("id", "d.*").collect()
    by_id = {r["id"]: r for r in want}
    assert all(r["verdict"] == by_id[r["id"]]["verdict"] for r in d)


def test_spark_submit_example(inputs, tmp_path, spark):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
    import spark_submit

    out = tmp_path / "sparkout"
    spark_submit.main([str(inputs / "b.jsonl.gz"), str(out), "--task", "stats"])
    import pyarrow.dataset as ds

    rows = ds.dataset(str(out), format="parquet").to_table().to_pylist()
    assert sorted(r["id"] for r in rows) == [f"b{i}" for i in range(10)]
    assert all(r["words"] == len(SENT.split()) for r in rows)
