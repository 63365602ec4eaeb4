# Phase train_v3face: the packed dataset → V3 Face (audio → 52 ARKit blendshapes), in two phases.
#   data/models/v3face/lipsync/     phase 1: lipsync branch; best.safetensors by val L1 on the 31 lipsync channels
#   data/models/v3face/expression/  phase 2: expression branch, lipsync frozen (bit-identical lipsync outputs)
# Each folder: config.json, best.safetensors, metrics.csv (a DVC plot), metrics.json (DVC metrics); the
# undeclared last.safetensors/state.* beside them let an interrupted run resume where it stopped.
# v3face.nproc = N > 1 trains with N processes on one node: torchrun + DDP, 2 threads and (on CUDA) one GPU each.


V3FACE_NPROC = int(config["v3face"]["nproc"])
V3FACE_LAUNCH = "python" if V3FACE_NPROC == 1 else f"torchrun --standalone --nproc-per-node {V3FACE_NPROC}"


rule train_lipsync:
    input:
        "data/dataset/metadata.parquet",
    output:
        model="data/models/v3face/lipsync/best.safetensors",
        config="data/models/v3face/lipsync/config.json",
        metrics="data/models/v3face/lipsync/metrics.json",
        curve="data/models/v3face/lipsync/metrics.csv",
    params:
        cfg=stage_cfg("v3face"),
        out=folder_of("model"),
        launch=V3FACE_LAUNCH,
    log:
        "logs/train_lipsync/train_lipsync.log",
    benchmark:
        "logs/benchmarks/train_lipsync/train_lipsync.tsv"
    priority: PRIORITY["v3face"]
    threads: 2 * V3FACE_NPROC
    conda:
        ENV
    resources:
        mem_mb=scaled(16000),
        runtime=minutes(720),
        gpu=gpus("v3face") * V3FACE_NPROC,
    shell:
        "{params.launch} -m talkhead.stages.train_lipsync --metadata {input:q} --out {params.out:q} --cfg {params.cfg:q}"
        " 2> {log:q}"


rule train_expression:
    input:
        metadata="data/dataset/metadata.parquet",
        lipsync="data/models/v3face/lipsync/best.safetensors",
    output:
        model="data/models/v3face/expression/best.safetensors",
        config="data/models/v3face/expression/config.json",
        metrics="data/models/v3face/expression/metrics.json",
        curve="data/models/v3face/expression/metrics.csv",
    params:
        cfg=stage_cfg("v3face"),
        init=folder_of("lipsync", "input"),
        out=folder_of("model"),
        launch=V3FACE_LAUNCH,
    log:
        "logs/train_expression/train_expression.log",
    benchmark:
        "logs/benchmarks/train_expression/train_expression.tsv"
    priority: PRIORITY["v3face"]
    threads: 2 * V3FACE_NPROC
    conda:
        ENV
    resources:
        mem_mb=scaled(16000),
        runtime=minutes(720),
        gpu=gpus("v3face") * V3FACE_NPROC,
    shell:
        "{params.launch} -m talkhead.stages.train_expression --metadata {input.metadata:q} --init {params.init:q}"
        " --out {params.out:q} --cfg {params.cfg:q} 2> {log:q}"


rule train_v3face:
    input:
        rules.train_expression.output,
