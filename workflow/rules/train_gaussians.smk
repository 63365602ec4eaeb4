# Phase train_gaussians: a per-identity GaussianTalker-style 3D-Gaussian head per speaker (docs/gaussians.md).
#   data/models/gaussians/{speaker}/  head.safetensors (canonical Gaussians + deformation field + background),
#                                     config.json, reference.safetensors (idle pose/expression track),
#                                     metrics.csv (held-out PSNR/SSIM per evaluation), metrics.json (+ LMD);
#                                     the undeclared last/state/densify.safetensors + state.json let a run resume
#   data/models/gaussians/            metrics.json, metrics.csv: every trained speaker (DVC metrics and plot)
# {speaker} is talkhead.data.manifest.speaker_key of the manifest's speaker id; which speakers: gaussians.speakers,
# else the speaker of the first accepted train-split clip (talkhead.gaussians.speakers).


from talkhead.gaussians.speakers import speaker_files


rule train_gaussians_speaker:
    input:
        metadata="data/dataset/metadata.parquet",
        crops=shard_indices("crop"),
    output:
        model="data/models/gaussians/{speaker}/head.safetensors",
        config="data/models/gaussians/{speaker}/config.json",
        reference="data/models/gaussians/{speaker}/reference.safetensors",
        metrics="data/models/gaussians/{speaker}/metrics.json",
        curve="data/models/gaussians/{speaker}/metrics.csv",
    params:
        cfg=stage_cfg("gaussians"),
        speaker=speaker_id,
        out=folder_of("model"),
    log:
        "logs/train_gaussians/{speaker}.log",
    benchmark:
        "logs/benchmarks/train_gaussians/{speaker}.tsv"
    priority: PRIORITY["gaussians"]
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(16000),
        runtime=minutes(720),
        gpu=gpus("gaussians"),
    shell:
        "python -m talkhead.stages.train_gaussians --metadata {input.metadata:q} --crop-dir data/crop"
        " --speaker {params.speaker:q} --out {params.out:q} --cfg {params.cfg:q} 2> {log:q}"


rule train_gaussians_summary:
    input:
        metrics=speaker_files(accepted, ROWS, SPLITS, config["gaussians"]["speakers"], "metrics.json"),
        curves=speaker_files(accepted, ROWS, SPLITS, config["gaussians"]["speakers"], "metrics.csv"),
    output:
        metrics="data/models/gaussians/metrics.json",
        curve="data/models/gaussians/metrics.csv",
    params:
        out=folder_of("metrics"),
    log:
        "logs/train_gaussians/summary.log",
    benchmark:
        "logs/benchmarks/train_gaussians/summary.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(500),
        runtime=minutes(5),
    shell:
        "python -m talkhead.stages.train_gaussians --summarize {input.metrics:q} --out {params.out:q} 2> {log:q}"


rule train_gaussians:
    input:
        rules.train_gaussians_summary.output,
