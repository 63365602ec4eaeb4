# Phase features: accepted clips → data/features/{clip}/<modality>.safetensors (one rule per extractor).
#   audio_mel   data/features/{clip}/audio_mel.safetensors   (4T, 80) log-mel at 100 Hz
#   face_mesh   data/features/{clip}/face_mesh.safetensors   (T, 478, 3) mesh + found flags
#   head_pose   data/features/{clip}/head_pose.safetensors   (T, 3) pitch/yaw/roll, translation, scale
#   motion      data/features/{clip}/motion.safetensors      (T, 70) MoDA layout; training-split statistics
#               in data/features/_stats/motion.safetensors
#   face3dmm    data/features/{clip}/face3dmm.safetensors    FLAME-style global/jaw pose + expression, from
#               the landmark 3DMM whose basis (training split) is data/models/face3dmm_basis/
#   video_latents data/features/{clip}/video_latents.safetensors (T, C, h, w) + first-frame latent, from the
#               video VAE trained on the training split's crops (data/models/video_vae/) or an AutoencoderKL
#   audio_hubert data/features/{clip}/audio_hubert.safetensors (2T, L, D) float16, when a checkpoint is set
#   blendshapes data/features/{clip}/blendshapes.safetensors (T, 52) ARKit coefficients, calibrated per
#               speaker in data/features/_calibration/{speaker}.json


rule audio_mel_clip:
    group:
        clip_group("clip_pack"),
    input:
        "data/quality/{clip}",
    output:
        "data/features/{clip}/audio_mel.safetensors",
    params:
        cfg=stage_cfg("audio_mel"),
    log:
        "logs/audio_mel/{clip}.log",
    benchmark:
        "logs/benchmarks/audio_mel/{clip}.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=1500,
        runtime=30,
    shell:
        "python -m talkhead.stages.audio_mel --quality {input:q} --out {output:q} --cfg {params.cfg:q} 2> {log:q}"


rule face_mesh_clip:
    group:
        clip_group("clip_mesh"),
    input:
        crop="data/crop/{clip}",
        quality="data/quality/{clip}",
    output:
        "data/features/{clip}/face_mesh.safetensors",
    params:
        cfg=stage_cfg("face_mesh"),
    log:
        "logs/face_mesh/{clip}.log",
    benchmark:
        "logs/benchmarks/face_mesh/{clip}.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=1500,
        runtime=30,
    shell:
        "python -m talkhead.stages.face_mesh --crop {input.crop:q} --quality {input.quality:q}"
        " --out {output:q} --cfg {params.cfg:q} 2> {log:q}"


rule head_pose_clip:
    group:
        clip_group("clip_mesh"),
    input:
        "data/features/{clip}/face_mesh.safetensors",
    output:
        "data/features/{clip}/head_pose.safetensors",
    log:
        "logs/head_pose/{clip}.log",
    benchmark:
        "logs/benchmarks/head_pose/{clip}.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=1000,
        runtime=15,
    shell:
        "python -m talkhead.stages.head_pose --mesh {input:q} --out {output:q} 2> {log:q}"


rule motion_clip:
    group:
        clip_group("clip_mesh"),
    input:
        mesh="data/features/{clip}/face_mesh.safetensors",
        pose="data/features/{clip}/head_pose.safetensors",
    output:
        "data/features/{clip}/motion.safetensors",
    log:
        "logs/motion/{clip}.log",
    benchmark:
        "logs/benchmarks/motion/{clip}.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=1000,
        runtime=15,
    shell:
        "python -m talkhead.stages.motion --mesh {input.mesh:q} --pose {input.pose:q} --out {output:q} 2> {log:q}"


rule motion_stats:
    input:
        train_files("data/features/{clip}/motion.safetensors"),
    output:
        "data/features/_stats/motion.safetensors",
    params:
        splits=splits_json,
    log:
        "logs/motion_stats/motion_stats.log",
    benchmark:
        "logs/benchmarks/motion_stats/motion_stats.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=15,
    shell:
        "python -m talkhead.stages.motion_stats --out {output:q} --splits {params.splits:q} {input:q} 2> {log:q}"


rule face3dmm_basis:
    input:
        train_files("data/features/{clip}/face_mesh.safetensors"),
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
        mem_mb=4000,
        runtime=30,
    shell:
        "python -m talkhead.stages.face3dmm_basis --out {output:q} --cfg {params.cfg:q} {input:q} 2> {log:q}"


rule face3dmm_clip:
    group:
        clip_group("clip_pack"),
    input:
        mesh="data/features/{clip}/face_mesh.safetensors",
        basis=FACE3DMM_BASIS,
    output:
        "data/features/{clip}/face3dmm.safetensors",
    params:
        cfg=stage_cfg("face3dmm"),
    log:
        "logs/face3dmm/{clip}.log",
    benchmark:
        "logs/benchmarks/face3dmm/{clip}.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=1500,
        runtime=15,
    shell:
        "python -m talkhead.stages.face3dmm --mesh {input.mesh:q} --basis '{input.basis}' --out {output:q}"
        " --cfg {params.cfg:q} 2> {log:q}"


rule video_vae:
    input:
        train_files("data/crop/{clip}"),
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
        mem_mb=8000,
        runtime=240,
        gpu=gpus("video_vae"),
    shell:
        "python -m talkhead.stages.video_vae --out {output:q} --cfg {params.cfg:q} {input:q} 2> {log:q}"


rule video_latents_clip:
    group:
        clip_group("clip_gpu"),
    input:
        crop="data/crop/{clip}",
        quality="data/quality/{clip}",
        model=VIDEO_VAE,
    output:
        "data/features/{clip}/video_latents.safetensors",
    params:
        cfg=stage_cfg("video_latents"),
    log:
        "logs/video_latents/{clip}.log",
    benchmark:
        "logs/benchmarks/video_latents/{clip}.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=3000,
        runtime=30,
        gpu=gpus("video_latents"),
    shell:
        "python -m talkhead.stages.video_latents --crop {input.crop:q} --quality {input.quality:q}"
        " --model '{input.model}' --out {output:q} --cfg {params.cfg:q} 2> {log:q}"


rule audio_hubert_clip:
    group:
        clip_group("clip_gpu"),
    input:
        "data/quality/{clip}",
    output:
        "data/features/{clip}/audio_hubert.safetensors",
    params:
        cfg=stage_cfg("audio_hubert"),
    log:
        "logs/audio_hubert/{clip}.log",
    benchmark:
        "logs/benchmarks/audio_hubert/{clip}.tsv"
    threads: 2
    conda:
        ENV
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=gpus("audio_hubert"),
    shell:
        "python -m talkhead.stages.audio_hubert --quality {input:q} --out {output:q} --cfg {params.cfg:q} 2> {log:q}"


rule blendshape_calibration:
    input:
        speaker_meshes,
    output:
        "data/features/_calibration/{speaker}.json",
    params:
        speaker=speaker_id,
    log:
        "logs/blendshape_calibration/{speaker}.log",
    benchmark:
        "logs/benchmarks/blendshape_calibration/{speaker}.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "python -m talkhead.stages.blendshape_calibration --speaker {params.speaker:q} --out {output:q}"
        " {input:q} 2> {log:q}"


rule blendshapes_clip:
    group:
        clip_group("clip_pack"),
    input:
        mesh="data/features/{clip}/face_mesh.safetensors",
        calibration=clip_calibration,
    output:
        "data/features/{clip}/blendshapes.safetensors",
    params:
        cfg=stage_cfg("blendshapes"),
    log:
        "logs/blendshapes/{clip}.log",
    benchmark:
        "logs/benchmarks/blendshapes/{clip}.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=1500,
        runtime=30,
    shell:
        "python -m talkhead.stages.blendshapes --mesh {input.mesh:q} --calibration {input.calibration:q}"
        " --out {output:q} --cfg {params.cfg:q} 2> {log:q}"


rule features:
    input:
        *[accepted_files(f"data/features/{{clip}}/{m}.safetensors") for m in MODALITIES],
        "data/features/_stats/motion.safetensors",
