# Phase faces: data/normalize/{clip}/ (+ the source in data/ingest/{clip}/) → data/faces/{clip}/ (face track, face statistics, scene cuts).


rule faces_clip:
    group:
        clip_group("clip_preprocess"),
    input:
        normalize="data/normalize/{clip}",
        source="data/ingest/{clip}",  # normalize/{clip}/video.json points into it
    output:
        directory("data/faces/{clip}"),
    params:
        cfg=stage_cfg("faces"),
    log:
        "logs/faces/{clip}.log",
    benchmark:
        "logs/benchmarks/faces/{clip}.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=3000,
        runtime=60,
    shell:
        "python -m talkhead.stages.faces --normalize {input.normalize:q} --out {output:q}"
        " --cfg {params.cfg:q} 2> {log:q}"


rule faces:
    input:
        clip_dirs("faces"),
