# Phase ingest: manifest source → data/ingest/{clip}/ (raw file, size, sha256, or `unavailable`).


rule ingest_clip:
    group:
        clip_group("clip_preprocess"),
    input:
        local_source,
    output:
        directory("data/ingest/{clip}"),
    params:
        manifest=MANIFEST,
        row=manifest_row,
        cfg=stage_cfg("ingest"),
    log:
        "logs/ingest/{clip}.log",
    benchmark:
        "logs/benchmarks/ingest/{clip}.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=1000,
        runtime=60,
    shell:
        "python -m talkhead.stages.ingest --manifest {params.manifest:q} --clip {wildcards.clip}"
        " --out {output:q} --cfg {params.cfg:q} 2> {log:q}"


rule ingest:
    input:
        clip_dirs("ingest"),
