# Phase features: accepted clips → data/features/{clip}/<modality>.safetensors, in two shard jobs per shard
# (talkhead.stages.feature_shard) around the aggregates fitted on the training split (data/qc/train.csv).
#   features_shard  data/features/_shards/{shard}.csv          audio_mel, face_mesh, head_pose, motion (+ audio_hubert)
#   learned_shard   data/features/_shards/{shard}.learned.csv  face3dmm, blendshapes, video_latents
#   audio_mel   (4T, 80) log-mel at 100 Hz            face_mesh  (T, 478, 3) mesh + found flags
#   head_pose   (T, 3) pitch/yaw/roll, translation, scale
#   motion      (T, 70) MoDA layout; training-split statistics in data/features/_stats/motion.safetensors;
#               from LivePortrait's motion extractor when liveportrait.dir is set (+ clip_kp_canonical (21, 3))
#   face3dmm    FLAME-style global/jaw pose + expression, from the landmark 3DMM whose basis (training split)
#               is data/models/face3dmm_basis/
#   video_latents (T, C, h, w) + first-frame latent, from the video VAE trained on the training split's crops
#               (data/models/video_vae/) or an AutoencoderKL
#   audio_hubert (2T, L, D) float16, when a checkpoint is set
#   blendshapes (T, 52) ARKit coefficients, calibrated per speaker in data/features/_calibration/{speaker}.json

# LivePortrait's motion extractor computes `motion` when its weights folder is configured (liveportrait.dir).
LIVEPORTRAIT = bool(config["liveportrait"]["dir"])


rule features_shard:
    input:
        lists="data/qc/_shards",  # the gate's accepted list of each shard: <shard>.csv
        crop="data/crop/_shards/{shard}.csv",
        quality="data/quality/_shards/{shard}.csv",
    output:
        "data/features/_shards/{shard}.csv",
    params:
        job=feature_job("features"),
        cfg=stage_cfgs("audio_mel", "face_mesh", "audio_hubert", "liveportrait"),
    log:
        "logs/features/{shard}.log",
    benchmark:
        "logs/benchmarks/features/{shard}.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled((6000 if "audio_hubert" in MODALITIES else 2000) + (3000 if LIVEPORTRAIT else 0)),
        runtime=shard_minutes((1.0 if "audio_hubert" in MODALITIES else 0.3) + (2.0 if LIVEPORTRAIT else 0)),
        gpu=max(gpus("audio_hubert") if "audio_hubert" in MODALITIES else 0,
                gpus("liveportrait") if LIVEPORTRAIT else 0),
    shell:
        "python -m talkhead.stages.feature_shard {params.job} --clips {input.lists:q}/{wildcards.shard}.csv"
        " --index {output:q} --cfg {params.cfg:q} 2> {log:q}"


rule motion_stats:
    input:
        train="data/qc/train.csv",
        features=shard_indices("features"),
    output:
        "data/features/_stats/motion.safetensors",
    log:
        "logs/motion_stats/motion_stats.log",
    benchmark:
        "logs/benchmarks/motion_stats/motion_stats.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(2000),
        runtime=minutes(15),
    shell:
        "python -m talkhead.stages.motion_stats --out {output:q} --clips {input.train:q} --root data/features 2> {log:q}"


rule face3dmm_basis:
    input:
        train="data/qc/train.csv",
        features=shard_indices("features"),
    output:
        directory("data/models/face3dmm_basis"),
    params:
        cfg=stage_cfg("face3dmm"),
    log:
        "logs/face3dmm_basis/face3dmm_basis.log",
    benchmark:
        "logs/benchmarks/face3dmm_basis/face3dmm_basis.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(4000),
        runtime=minutes(30),
    shell:
        "python -m talkhead.stages.face3dmm_basis --out {output:q} --clips {input.train:q} --root data/features"
        " --cfg {params.cfg:q} 2> {log:q}"


rule video_vae:
    input:
        train="data/qc/train.csv",
        crops=shard_indices("crop"),
    output:
        directory("data/models/video_vae"),
    params:
        cfg=stage_cfg("video_vae"),
    log:
        "logs/video_vae/video_vae.log",
    benchmark:
        "logs/benchmarks/video_vae/video_vae.tsv"
    threads: 2
    conda:
        ENV
    resources:
        mem_mb=scaled(8000),
        runtime=minutes(240),
        gpu=gpus("video_vae"),
    shell:
        "python -m talkhead.stages.video_vae --out {output:q} --clips {input.train:q} --root data/crop"
        " --cfg {params.cfg:q} 2> {log:q}"


rule blendshape_calibration:
    input:
        shard_indices("features"),
    output:
        directory("data/features/_calibration"),
    log:
        "logs/blendshape_calibration/blendshape_calibration.log",
    benchmark:
        "logs/benchmarks/blendshape_calibration/blendshape_calibration.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(2000),
        runtime=shard_minutes(0.02, CLIPS),
    shell:
        "python -m talkhead.stages.blendshape_calibration --out {output:q} --root data/features --indices {input:q}"
        " 2> {log:q}"


rule learned_shard:
    input:
        clips="data/features/_shards/{shard}.csv",
        basis=FACE3DMM_BASIS,
        vae=VIDEO_VAE,
        calibration="data/features/_calibration",
    output:
        "data/features/_shards/{shard}.learned.csv",
    params:
        job=feature_job("learned"),
        cfg=stage_cfgs("face3dmm", "blendshapes", "video_latents"),
    log:
        "logs/learned/{shard}.log",
    benchmark:
        "logs/benchmarks/learned/{shard}.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(3000),
        runtime=shard_minutes(0.3),
        gpu=gpus("video_latents"),
    shell:
        "python -m talkhead.stages.feature_shard {params.job} --clips {input.clips:q} --index {output:q}"
        " --basis '{input.basis}' --vae '{input.vae}' --calibration {input.calibration:q} --cfg {params.cfg:q}"
        " 2> {log:q}"


rule features:
    input:
        expand("data/features/_shards/{shard}.learned.csv", shard=SHARDS),
        "data/features/_stats/motion.safetensors",
