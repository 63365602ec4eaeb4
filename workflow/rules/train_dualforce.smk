# Phase train_dualforce: the packed dataset (video latents + motion + audio) → DualForce, a 3D-aware autoregressive
# video model trained with diffusion forcing (video DiT + structure DiT + shallow-fusion bridge; docs/dualforce.md).
#   data/models/dualforce/  config.json, motion_stats.safetensors (training split), best.safetensors (best validation
#                           loss), metrics.csv (a DVC plot: train / val loss and its video, structure, lip terms),
#                           metrics.json (DVC metrics, with the untrained model's val loss and loss_decreased); the
#                           undeclared last.safetensors / state.* let an interrupted run resume.
# dualforce.nproc = N > 1 trains with N processes on one node: torchrun + dualforce.strategy (ddp | fsdp), 2 threads
# and (on CUDA) one GPU each — the launch of train_v3face.smk; fsdp shards the base / large sizes.


DUALFORCE_NPROC = int(config["dualforce"]["nproc"])
DUALFORCE_LAUNCH = "python" if DUALFORCE_NPROC == 1 else f"torchrun --standalone --nproc-per-node {DUALFORCE_NPROC}"


rule train_dualforce:
    input:
        metadata="data/dataset/metadata.parquet",
        stats="data/dataset/motion_stats.safetensors",
    output:
        model="data/models/dualforce/best.safetensors",
        config="data/models/dualforce/config.json",
        stats="data/models/dualforce/motion_stats.safetensors",
        metrics="data/models/dualforce/metrics.json",
        curve="data/models/dualforce/metrics.csv",
    params:
        cfg=stage_cfg("dualforce"),
        out=folder_of("model"),
        launch=DUALFORCE_LAUNCH,
    log:
        "logs/train_dualforce/train_dualforce.log",
    benchmark:
        "logs/benchmarks/train_dualforce/train_dualforce.tsv"
    priority: PRIORITY["dualforce"]
    threads: 2 * DUALFORCE_NPROC
    conda:
        ENV
    resources:
        mem_mb=scaled(64000),
        runtime=minutes(2880),
        gpu=gpus("dualforce") * DUALFORCE_NPROC,
    shell:
        "{params.launch} -m talkhead.stages.train_dualforce --metadata {input.metadata:q} --stats {input.stats:q}"
        " --out {params.out:q} --cfg {params.cfg:q} 2> {log:q}"
