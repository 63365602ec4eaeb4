# Phase dataset: accepted clips' modality files → data/dataset/clips/{clip}.safetensors (packed, one shard job per
# shard: data/dataset/_shards/{shard}.csv) and data/dataset/metadata.parquet (one row per clip, speaker-disjoint
# splits) and data/dataset/motion_stats.safetensors (the training split's motion statistics).


rule pack_shard:
    input:
        "data/features/_shards/{shard}.learned.csv",
    output:
        "data/dataset/_shards/{shard}.csv",
    params:
        job=feature_job("pack"),
    log:
        "logs/pack/{shard}.log",
    benchmark:
        "logs/benchmarks/pack/{shard}.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(2000),
        runtime=shard_minutes(0.1),
    shell:
        "python -m talkhead.stages.feature_shard {params.job} --clips {input:q} --index {output:q} 2> {log:q}"


rule dataset:
    input:
        packed=shard_indices("dataset"),
        motion_stats="data/features/_stats/motion.safetensors",
    output:
        metadata="data/dataset/metadata.parquet",
        motion_stats="data/dataset/motion_stats.safetensors",
        report=report(
            directory("data/dataset/report"),
            htmlindex="index.html",
            category="Dataset",
            caption="../report/dataset.rst",
        ),
    params:
        cfg=stage_cfg("dataset"),
    log:
        "logs/dataset/dataset.log",
    benchmark:
        "logs/benchmarks/dataset/dataset.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(4000),
        runtime=minutes(30),
    shell:
        "python -m talkhead.stages.dataset --out {output.metadata:q} --report {output.report:q}"
        " --motion-stats {input.motion_stats:q} --cfg {params.cfg:q} {input.packed:q} 2> {log:q}"
