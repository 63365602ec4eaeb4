# Phase crop: data/faces/{clip}/ + data/normalize/{clip}/ → data/crop/{clip}/ (stable crop, landmarks,
# sharpness), one job per shard.


rule crop_shard:
    input:
        faces="data/faces/_shards/{shard}.csv",
        normalize="data/normalize/_shards/{shard}.csv",
    output:
        "data/crop/_shards/{shard}.csv",
    params:
        job=shard_job("crop"),
        cfg=stage_cfg("crop"),
    log:
        "logs/crop/{shard}.log",
    benchmark:
        "logs/benchmarks/crop/{shard}.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(3000),
        runtime=shard_minutes(1.0),
    shell:
        "python -m talkhead.stages.shard {params.job} --index {output:q} --cfg {params.cfg:q} 2> {log:q}"


rule crop:
    input:
        shard_indices("crop"),
