# Phase normalize: data/ingest/{clip}/ → data/normalize/{clip}/ (CFR video, mono PCM audio, probe).


rule normalize_clip:
    group:
        clip_group("clip_preprocess"),
    input:
        "data/ingest/{clip}",
    output:
        directory("data/normalize/{clip}"),
    params:
        cfg=stage_cfg("normalize"),
    log:
        "logs/normalize/{clip}.log",
    benchmark:
        "logs/benchmarks/normalize/{clip}.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        "python -m talkhead.stages.normalize --ingest {input:q} --out {output:q}"
        " --cfg {params.cfg:q} 2> {log:q}"


rule normalize_summary:
    input:
        clip_dirs("normalize"),
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
        mem_mb=500,
        runtime=10,
    shell:
        "python -m talkhead.stages.summary --out {output:q} {input:q} 2> {log:q}"


rule normalize:
    input:
        clip_dirs("normalize"),
        "data/normalize/summary.csv",
