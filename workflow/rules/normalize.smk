# Phase normalize: data/ingest/{clip}/ → data/normalize/{clip}/ (CFR video plan, mono PCM audio, probe),
# one job per shard; data/normalize/summary.csv has one row per clip.


rule normalize_shard:
    input:
        "data/ingest/_shards/{shard}.csv",
    output:
        "data/normalize/_shards/{shard}.csv",
    params:
        job=shard_job("normalize"),
        cfg=stage_cfg("normalize"),
    log:
        "logs/normalize/{shard}.log",
    benchmark:
        "logs/benchmarks/normalize/{shard}.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(2000),
        runtime=shard_minutes(0.25),
    shell:
        "python -m talkhead.stages.shard {params.job} --index {output:q} --cfg {params.cfg:q} 2> {log:q}"


rule normalize_summary:
    input:
        shard_indices("normalize"),
    output:
        "data/normalize/summary.csv",
    log:
        "logs/normalize/summary.log",
    benchmark:
        "logs/benchmarks/normalize/summary.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(500),
        runtime=minutes(10),
    shell:
        "python -m talkhead.stages.summary --out {output:q} {input:q} 2> {log:q}"


rule normalize:
    input:
        shard_indices("normalize"),
        "data/normalize/summary.csv",
