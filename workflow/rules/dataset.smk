# Phase dataset: accepted clips' modality files → data/dataset/clips/{clip}.safetensors (packed) and
# data/dataset/metadata.parquet (one row per clip, speaker-disjoint splits).


rule pack_clip:
    input:
        features=feature_files,
        crop="data/crop/{clip}",
        quality="data/quality/{clip}",
    output:
        "data/dataset/clips/{clip}.safetensors",
    params:
        row=manifest_row,
    log:
        "logs/pack/{clip}.log",
    benchmark:
        "logs/benchmarks/pack/{clip}.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "python -m talkhead.stages.pack --crop {input.crop:q} --quality {input.quality:q} --row {params.row:q}"
        " --out {output:q} {input.features:q} 2> {log:q}"


rule dataset:
    input:
        accepted_files("data/dataset/clips/{clip}.safetensors"),
    output:
        metadata="data/dataset/metadata.parquet",
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
        mem_mb=2000,
        runtime=30,
    shell:
        "python -m talkhead.stages.dataset --out {output.metadata:q} --report {output.report:q}"
        " --cfg {params.cfg:q} {input:q} 2> {log:q}"
