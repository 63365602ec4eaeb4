# Phase ingest: manifest sources → data/ingest/{clip}/ (raw file or reference, size, sha256, or `unavailable`),
# one job per shard: data/ingest/_shards/{shard}.csv indexes its clips.


rule ingest_shard:
    input:
        shard_sources,
    output:
        "data/ingest/_shards/{shard}.csv",
    params:
        job=shard_job("ingest"),
        rows=shard_rows,
        cfg=stage_cfg("ingest"),
    log:
        "logs/ingest/{shard}.log",
    benchmark:
        "logs/benchmarks/ingest/{shard}.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(1000),
        runtime=shard_minutes(0.5),
    shell:
        "python -m talkhead.stages.shard {params.job} --index {output:q} --cfg {params.cfg:q} 2> {log:q}"


rule ingest:
    input:
        shard_indices("ingest"),
