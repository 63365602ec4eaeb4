# Phase train_motion_dit: the packed dataset → the MoDA-style motion DiT (audio + reference + previous motion +
# emotion → 70-d motion, generated as the residual to the reference; docs/generate.md).
#   data/models/motion_dit/  config.json, motion_stats.safetensors (training split), best.safetensors (best val L1
#                            of guided samples, normalised units), metrics.csv (a DVC plot), metrics.json (DVC
#                            metrics); the undeclared last.safetensors / state.* let an interrupted run resume.


rule train_motion:
    input:
        metadata="data/dataset/metadata.parquet",
        stats="data/dataset/motion_stats.safetensors",
    output:
        model="data/models/motion_dit/best.safetensors",
        config="data/models/motion_dit/config.json",
        stats="data/models/motion_dit/motion_stats.safetensors",
        metrics="data/models/motion_dit/metrics.json",
        curve="data/models/motion_dit/metrics.csv",
    params:
        cfg=stage_cfg("motion_dit"),
        out=folder_of("model"),
    log:
        "logs/train_motion/train_motion.log",
    benchmark:
        "logs/benchmarks/train_motion/train_motion.tsv"
    priority: PRIORITY["motion_dit"]
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(16000),
        runtime=minutes(720),
        gpu=gpus("motion_dit"),
    shell:
        "python -m talkhead.stages.train_motion --metadata {input.metadata:q} --stats {input.stats:q}"
        " --out {params.out:q} --cfg {params.cfg:q} 2> {log:q}"


rule train_motion_dit:
    input:
        rules.train_motion.output,
