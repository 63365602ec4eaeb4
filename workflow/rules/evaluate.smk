# Phase evaluate: trained models scored on the speaker-disjoint val split (docs/evaluation.md).
#   data/eval/v3face/   metrics.json (DVC metrics: val L1 per channel group for the model, the training-mean
#                       pose and silent-audio baselines, crisp, the streamed fp32/int8 graphs), tracks.csv
#                       (a DVC plot), plots/tracks.png
#   data/eval/motion_dit/   metrics.json (DVC metrics: val L1 of the generated motion, mouth-envelope correlation
#                           of the guided / cfg-0 / silent-audio / ground-truth motion, rendered LMD beside the
#                           still face, self-trained sync, FID/FVD and SyncNet where configured; docs/generate.md),
#                           tracks.csv (a DVC plot), plots/mouth.png
#   data/eval/dualforce/    metrics.json (DVC metrics: latent / structure L1, LMD of the structure and of the decoded
#                           frames, sync and FID/FVD where configured, drift at dualforce.eval_lengths; docs/dualforce.md),
#                           consistency.csv (a DVC plot), plots/consistency.png, samples/<clip>.mp4


rule evaluate_v3face:
    input:
        model="data/models/v3face/expression/best.safetensors",
        metadata="data/dataset/metadata.parquet",
        export="data/export/v3face",
    output:
        metrics="data/eval/v3face/metrics.json",
        tracks="data/eval/v3face/tracks.csv",
        plot=report("data/eval/v3face/plots/tracks.png", caption="../report/eval_v3face.rst", category="Evaluation",
                    subcategory="V3 Face"),
    params:
        cfg=stage_cfg("evaluate"),
        model=folder_of("model", "input"),
        out=folder_of("metrics"),
    log:
        "logs/evaluate_v3face/evaluate_v3face.log",
    benchmark:
        "logs/benchmarks/evaluate_v3face/evaluate_v3face.tsv"
    priority: PRIORITY["v3face"]
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(4000),
        runtime=minutes(60),
    shell:
        "python -m talkhead.stages.evaluate_v3face --model {params.model:q} --metadata {input.metadata:q}"
        " --export {input.export:q} --out {params.out:q} --cfg {params.cfg:q} 2> {log:q}"


rule evaluate_motion_dit:
    input:
        model="data/models/motion_dit/best.safetensors",
        lipsync="data/models/v3face/lipsync/best.safetensors",  # the mouth driver of the speaking_* scores
        metadata="data/dataset/metadata.parquet",
        syncnet="data/models/syncnet/model.safetensors",
        crops=shard_indices("crop"),
        audio=shard_indices("quality"),
    output:
        metrics="data/eval/motion_dit/metrics.json",
        tracks="data/eval/motion_dit/tracks.csv",
        plot=report("data/eval/motion_dit/plots/mouth.png", caption="../report/eval_motion_dit.rst",
                    category="Evaluation", subcategory="Motion DiT"),
    params:
        cfg=stage_cfg("evaluate"),
        model=folder_of("model", "input"),
        syncnet=folder_of("syncnet", "input"),
        out=folder_of("metrics"),
    log:
        "logs/evaluate_motion_dit/evaluate_motion_dit.log",
    benchmark:
        "logs/benchmarks/evaluate_motion_dit/evaluate_motion_dit.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(6000),
        runtime=minutes(120),
    shell:
        "python -m talkhead.stages.evaluate_motion_dit --model {params.model:q} --metadata {input.metadata:q}"
        " --syncnet {params.syncnet:q} --crop-root data/crop --quality-root data/quality --out {params.out:q}"
        " --cfg {params.cfg:q} 2> {log:q}"


rule evaluate_dualforce:
    input:
        model="data/models/dualforce/best.safetensors",
        vae=VIDEO_VAE,  # the pipeline's video VAE; none with the autoencoder_kl backend (its checkpoint decodes)
        metadata="data/dataset/metadata.parquet",
        syncnet="data/models/syncnet/model.safetensors",
        crops=shard_indices("crop"),
        audio=shard_indices("quality"),
    output:
        metrics="data/eval/dualforce/metrics.json",
        consistency="data/eval/dualforce/consistency.csv",
        plot=report("data/eval/dualforce/plots/consistency.png", caption="../report/eval_dualforce.rst",
                    category="Evaluation", subcategory="DualForce"),
        samples=report(directory("data/eval/dualforce/samples"), patterns=["{clip}.mp4"],
                       caption="../report/dualforce_sample.rst", category="Evaluation", subcategory="DualForce"),
    params:
        cfg=stage_cfg("evaluate"),
        dualforce=stage_cfg("dualforce"),
        model=folder_of("model", "input"),
        vae=lambda w, input: input.vae if VIDEO_VAE else config["video_latents"]["checkpoint"],
        syncnet=folder_of("syncnet", "input"),
        out=folder_of("metrics"),
    log:
        "logs/evaluate_dualforce/evaluate_dualforce.log",
    benchmark:
        "logs/benchmarks/evaluate_dualforce/evaluate_dualforce.tsv"
    priority: PRIORITY["evaluate_dualforce"]
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(8000),
        runtime=minutes(120),
        gpu=gpus("dualforce"),
    shell:
        "python -m talkhead.stages.evaluate_dualforce --model {params.model:q} --vae {params.vae:q}"
        " --metadata {input.metadata:q} --syncnet {params.syncnet:q} --crop-root data/crop --quality-root data/quality"
        " --out {params.out:q} --cfg {params.cfg:q} --dualforce-cfg {params.dualforce:q} 2> {log:q}"


# The metrics of the evaluated models and of their trainings in one table (the report's metrics table).
# Named after each file's folder under data/ (eval/v3face, models/v3face/lipsync, …).
rule evaluate_microalbert:
    input:
        model="data/models/microalbert/best.safetensors",
        targets="data/microalbert/targets.csv",
        export="data/export/microalbert",
    output:
        metrics="data/eval/microalbert/metrics.json",
        latency="data/eval/microalbert/latency.json",
        probes="data/eval/microalbert/probes.csv",
    params:
        cfg=stage_cfg("microalbert"),
        model=folder_of("model", "input"),
        out=folder_of("metrics"),
    log:
        "logs/evaluate_microalbert/evaluate_microalbert.log",
    benchmark:
        "logs/benchmarks/evaluate_microalbert/evaluate_microalbert.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(2000),
        runtime=minutes(30),
    shell:
        "python -m talkhead.stages.evaluate_microalbert --model {params.model:q} --targets {input.targets:q}"
        " --export {input.export:q} --out {params.out:q} --cfg {params.cfg:q} 2> {log:q}"


METRICS_TABLE_SOURCES = {
    str(Path(path).parent.relative_to("data")): path
    for path in (rules.evaluate_v3face.output.metrics, rules.evaluate_motion_dit.output.metrics,
                 rules.evaluate_dualforce.output.metrics, rules.train_lipsync.output.metrics,
                 rules.train_expression.output.metrics, rules.train_motion.output.metrics,
                 rules.train_dualforce.output.metrics, rules.train_syncnet_selftrained.output.metrics,
                 rules.evaluate_microalbert.output.metrics, rules.train_microalbert_student.output.metrics)
}


localrules: metrics_table  # a second's work: run by Snakemake itself, never submitted to SLURM


rule metrics_table:
    input:
        list(METRICS_TABLE_SOURCES.values()),
    output:
        report("data/eval/metrics.tsv", caption="../report/metrics_table.rst", category="Evaluation",
               subcategory="Metrics"),
    params:
        files=" ".join(f"{source}={path}" for source, path in METRICS_TABLE_SOURCES.items()),
    log:
        "logs/metrics_table/metrics_table.log",
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(1000),
        runtime=minutes(10),
    shell:
        "python -m talkhead.stages.metrics_table --out {output:q} {params.files} 2> {log:q}"


rule evaluate:
    input:
        rules.evaluate_v3face.output,
        rules.evaluate_motion_dit.output,
        rules.evaluate_dualforce.output,
        rules.evaluate_microalbert.output,
        rules.metrics_table.output,
