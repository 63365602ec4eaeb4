# Phase faces: data/normalize/{clip}/ (+ the source it points at) → data/faces/{clip}/ (face track, face
# statistics, scene cuts), one job per shard.


rule faces_shard:
    input:
        "data/normalize/_shards/{shard}.csv",
    output:
        "data/faces/_shards/{shard}.csv",
    params:
        job=shard_job("faces"),
        cfg=stage_cfg("faces"),
    log:
        "logs/faces/{shard}.log",
    benchmark:
        "logs/benchmarks/faces/{shard}.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(3000),
        runtime=shard_minutes(1.0),
        gpu=gpus("faces") if config["faces"]["detector"] == "retinaface" else 0,  # MediaPipe runs on the CPU
    shell:
        "python -m talkhead.stages.shard {params.job} --index {output:q} --cfg {params.cfg:q} 2> {log:q}"


rule faces:
    input:
        shard_indices("faces"),
