# Phase crop: data/faces/{clip}/ + data/normalize/{clip}/ → data/crop/{clip}/ (stable crop, landmarks, sharpness).


rule crop_clip:
    group:
        clip_group("clip_preprocess"),
    input:
        faces="data/faces/{clip}",
        normalize="data/normalize/{clip}",
        source="data/ingest/{clip}",
    output:
        directory("data/crop/{clip}"),
    params:
        cfg=stage_cfg("crop"),
    log:
        "logs/crop/{clip}.log",
    benchmark:
        "logs/benchmarks/crop/{clip}.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=3000,
        runtime=60,
    shell:
        "python -m talkhead.stages.crop --faces {input.faces:q} --normalize {input.normalize:q}"
        " --out {output:q} --cfg {params.cfg:q} 2> {log:q}"


rule crop:
    input:
        clip_dirs("crop"),
