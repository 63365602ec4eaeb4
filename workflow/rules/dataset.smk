# Phase dataset: accepted clips' modality files → data/dataset/clips/{clip}.safetensors (packed) and
# data/dataset/metadata.parquet (one row per clip, speaker-disjoint splits) and
# data/dataset/motion_stats.safetensors (the training split's motion statistics).


rule pack_clip:
    group:
        clip_group("clip_pack"),
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
        packed=accepted_files("data/dataset/clips/{clip}.safetensors"),
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
        mem_mb=2000,
        runtime=30,
    shell:
        "python -m talkhead.stages.dataset --out {output.metadata:q} --report {output.report:q}"
        " --motion-stats {input.motion_stats:q} --cfg {params.cfg:q} {input.packed:q} 2> {log:q}"
