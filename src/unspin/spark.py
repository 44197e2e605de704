"""unspin on Spark: helpers over a DataFrame of texts (pip install 'unspin[spark]').

    from unspin.spark import scan_dataframe, detect_udf
    out = scan_dataframe(df, task="detect", text_col="text")      # mapInPandas, one row per row
    df.withColumn("d", detect_udf()("text")).select("id", "d.verdict", "d.spun_probability")

`scan_dataframe` keeps the DataFrame's other columns (all but the text, unless `keep_text`) and
adds the task's result columns, typed like `unspin scan`'s Parquet output: verdict,
spun_probability and `evidence` (detect), `swaps`/`scars`/`restored` (check), `matches` (trace,
with `index` a directory every executor can read), `words`/`chars`/`sha1` (stats).  A row whose
text is null, or that arrives with a non-null `error` column, gets an error and null results;
an exception in the engine becomes an error row, never a failed job.  The task (and its models)
is built once per Python worker process and reused across partitions (Spark reuses Python
workers by default).

`records_dataframe(spark, inputs, ...)` reads files with unspin.scan's readers (WARC, HTML,
txt blocks, ... with the same ids and sources as `unspin scan`) into a DataFrame of texts; it
reads on the driver, so for big inputs use Spark's own readers (spark.read.json/parquet/text).
See examples/spark_submit.py.
"""

from typing import Iterator

_TASK: dict = {}


def _task(spec: str, index: str | None, fast: bool = False):
    key = (spec, index, fast)
    if key not in _TASK:
        from unspin.neural import cores_share
        from unspin.scan.tasks import make_task

        cores_share(0)  # (a Python worker per task slot, a core each: the model's passes one at a time)
        t = make_task(spec, index=index, fast=fast)
        t.setup()
        _TASK[key] = t
    return _TASK[key]


def result_schema(task: str):
    """Spark StructType of the result columns of a built-in task (after the input columns)."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import from_arrow_schema

    from unspin.scan.tasks import arrow_schema

    full = arrow_schema(task)
    if full is None:
        raise ValueError(f"task {task!r}: scan_dataframe supports the built-in tasks (detect, check, trace, stats)")
    keep = [f for f in full if f.name in ("error", "verdict", "spun_probability") or f.name not in _BASE]
    return from_arrow_schema(pa.schema(keep))


_BASE = ("id", "file", "offset", "row", "record_id", "url", "date", "error", "verdict", "spun_probability")


def _apply(rows_iter: Iterator, text_col: str, task: str, index, drop: set, result_names: list[str],
           fast: bool = False):
    import pandas as pd

    t = _task(task, index, fast)
    for pdf in rows_iter:
        results = []
        texts = pdf[text_col].tolist()
        errors = pdf["error"].tolist() if "error" in pdf.columns else [None] * len(texts)
        for text, err in zip(texts, errors):
            r = {k: None for k in result_names}
            if err is not None and not (isinstance(err, float) and err != err):
                r["error"] = err
            elif not isinstance(text, str):
                r["error"] = f'"{text_col}" is null or not a string'
            else:
                try:
                    r.update(t(text))
                except Exception as e:
                    r["error"] = f"internal error: {type(e).__name__}: {e}"
            results.append(r)
        out = pdf.drop(columns=[c for c in pdf.columns if c in drop or c in result_names]).reset_index(drop=True)
        res = pd.DataFrame(results, columns=result_names)
        yield pd.concat([out, res], axis=1)


def scan_dataframe(df, task: str = "detect", text_col: str = "text", index: str | None = None,
                   keep_text: bool = False, fast: bool = False):
    """One output row per input row: the input's columns (less the text) + the task's results.
    fast: the check task on the n-gram tier only (as `unspin scan --fast`)."""
    from pyspark.sql.types import StructType

    res = result_schema(task)
    names = [f.name for f in res.fields]
    drop = set() if keep_text else {text_col}
    in_fields = [f for f in df.schema.fields if f.name not in drop and f.name not in names]
    schema = StructType(in_fields + list(res.fields))
    return df.mapInPandas(lambda it: _apply(it, text_col, task, index, drop, names, fast), schema)


def detect_udf():
    """A pandas UDF: text column -> struct<verdict: string, spun_probability: double>."""
    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("verdict string, spun_probability double")
    def unspin_detect(texts: pd.Series) -> pd.DataFrame:
        t = _task("detect", None)
        out = []
        for text in texts:
            if not isinstance(text, str):
                out.append({"verdict": None, "spun_probability": None})
                continue
            try:
                r = t(text)
                out.append({"verdict": r["verdict"], "spun_probability": r["spun_probability"]})
            except Exception:
                out.append({"verdict": None, "spun_probability": None})
        return pd.DataFrame(out, columns=["verdict", "spun_probability"])

    return unspin_detect


def records_dataframe(spark, inputs: list[str], read=None):
    """A DataFrame of the records unspin.scan would read from `inputs` (id, file, offset, row,
    record_id, url, date, error, text), read on the driver."""
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    from unspin.scan import iter_records

    cols = [("id", StringType()), ("file", StringType()), ("offset", LongType()), ("row", LongType()),
            ("record_id", StringType()), ("url", StringType()), ("date", StringType()), ("error", StringType()),
            ("text", StringType())]
    schema = StructType([StructField(n, t, True) for n, t in cols])
    rows = [tuple(r.get(n) for n, _ in cols) for r in iter_records(inputs, read)]
    return spark.createDataFrame(rows, schema)
