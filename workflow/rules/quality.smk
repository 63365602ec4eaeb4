# Phase quality: per-clip measures and verdicts → data/quality/{clip}/ (one job per shard); the second A/V
# pass → data/av_corpus/; the gate over every shard → data/qc/, with each shard's accepted list
# data/qc/_shards/{shard}.csv (what the post-gate shard jobs run on) and train.csv (what the learned
# extractors fit on). A checkpoint only for train_gaussians' default speaker: every other rule after the
# gate is planned from the start.


rule quality_shard:
    input:
        normalize="data/normalize/_shards/{shard}.csv",
        faces="data/faces/_shards/{shard}.csv",
        crop="data/crop/_shards/{shard}.csv",
    output:
        "data/quality/_shards/{shard}.csv",
    params:
        job=shard_job("quality"),
        cfg=stage_cfg("quality"),
    log:
        "logs/quality/{shard}.log",
    benchmark:
        "logs/benchmarks/quality/{shard}.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(2000),
        runtime=shard_minutes(0.5),
        gpu=gpus("quality", "syncnet_device") if config["quality"]["syncnet_path"] else 0,  # SyncNet, when set
    shell:
        "python -m talkhead.stages.shard {params.job} --index {output:q} --cfg {params.cfg:q} 2> {log:q}"


rule av_corpus:
    input:
        clips=shard_indices("quality"),
        crops=shard_indices("crop"),
        normalized=shard_indices("normalize"),
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
        mem_mb=scaled(4000),
        runtime=minutes(60),
    shell:
        "python -m talkhead.stages.av_corpus --out {params.out:q} --crop-root data/crop --normalize-root data/normalize"
        " --manifest {input.manifest:q} --cfg {params.cfg:q} --quality-cfg {params.quality:q} {input.clips:q} 2> {log:q}"


checkpoint qc:
    input:
        clips=shard_indices("quality"),
        manifest=MANIFEST,
        av_corpus="data/av_corpus/offsets.csv",
    output:
        accepted="data/qc/accepted.csv",
        rejected="data/qc/rejected.csv",
        measures="data/qc/measures.csv",
        segments="data/qc/segments.csv",
        train="data/qc/train.csv",
        # One folder, not a file per shard: Snakemake matches every requested file against every explicit
        # output of a rule, which made a 1,000,000-clip plan (5,000 shards) quadratic.
        shards=directory("data/qc/_shards"),
        report=report(
            directory("data/qc/report"),
            htmlindex="index.html",
            category="Quality gate",
            caption="../report/qc.rst",
        ),
    params:
        cfg=stage_cfg("quality"),
        dataset=stage_cfg("dataset"),
    log:
        "logs/qc/qc.log",
    benchmark:
        "logs/benchmarks/qc/qc.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(4000),
        runtime=minutes(30),
    shell:
        "python -m talkhead.stages.qc --out data/qc --manifest {input.manifest:q} --av-corpus {input.av_corpus:q}"
        " --cfg {params.cfg:q} --dataset-cfg {params.dataset:q} {input.clips:q} 2> {log:q}"


rule quality:
    input:
        "data/qc/accepted.csv",
