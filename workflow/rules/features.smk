# Phase features: accepted clips → data/features/{clip}/<modality>.safetensors (one rule per extractor).
#   audio_mel   data/features/{clip}/audio_mel.safetensors   (4T, 80) log-mel at 100 Hz
#   face_mesh   data/features/{clip}/face_mesh.safetensors   (T, 478, 3) mesh + found flags


rule audio_mel_clip:
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


rule features:
    input:
        accepted_files("data/features/{clip}/audio_mel.safetensors"),
        accepted_files("data/features/{clip}/face_mesh.safetensors"),
