# Phase quality: per-clip measures and verdicts → data/quality/{clip}/; the gate → data/qc/.


rule quality_clip:
    group:
        clip_group("clip_preprocess"),
    input:
        normalize="data/normalize/{clip}",
        faces="data/faces/{clip}",
        crop="data/crop/{clip}",
    output:
        directory("data/quality/{clip}"),
    params:
        cfg=stage_cfg("quality"),
    log:
        "logs/quality/{clip}.log",
    benchmark:
        "logs/benchmarks/quality/{clip}.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "python -m talkhead.stages.quality --normalize {input.normalize:q} --faces {input.faces:q}"
        " --crop {input.crop:q} --out {output:q} --cfg {params.cfg:q} 2> {log:q}"


rule av_corpus:
    input:
        clips=clip_dirs("quality"),
        crops=clip_dirs("crop"),
        normalized=clip_dirs("normalize"),
        manifest=MANIFEST,
    output:
        offsets="data/av_corpus/offsets.csv",
        summary="data/av_corpus/summary.json",
    params:
        cfg=stage_cfg("av_corpus"),
        quality=stage_cfg("quality"),
        out=folder_of("offsets"),
    log:
        "logs/av_corpus/av_corpus.log",
    benchmark:
        "logs/benchmarks/av_corpus/av_corpus.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "python -m talkhead.stages.av_corpus --out {params.out:q} --crop-root data/crop --normalize-root data/normalize"
        " --manifest {input.manifest:q} --cfg {params.cfg:q} --quality-cfg {params.quality:q} {input.clips:q} 2> {log:q}"


checkpoint qc:
    input:
        clips=clip_dirs("quality"),
        manifest=MANIFEST,
        av_corpus="data/av_corpus/offsets.csv",
    output:
        accepted="data/qc/accepted.csv",
        rejected="data/qc/rejected.csv",
        measures="data/qc/measures.csv",
        segments="data/qc/segments.csv",
        report=report(
            directory("data/qc/report"),
            htmlindex="index.html",
            category="Quality gate",
            caption="../report/qc.rst",
        ),
    params:
        cfg=stage_cfg("quality"),
    log:
        "logs/qc/qc.log",
    benchmark:
        "logs/benchmarks/qc/qc.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "python -m talkhead.stages.qc --out data/qc --manifest {input.manifest:q} --av-corpus {input.av_corpus:q}"
        " --cfg {params.cfg:q} {input.clips:q} 2> {log:q}"


rule quality:
    input:
        accepted_clips("crop"),
        "data/qc/accepted.csv",
