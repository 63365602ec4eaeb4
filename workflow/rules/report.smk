# Phase report: the dataset report, one offline page over the run (talkhead.report.page; docs/qc.md).
#   data/report/   index.html (funnel, rejections with thumbnails, measure distributions, validation, model
#                  metrics and curves, provenance: no request leaves the machine), speakers.csv (every
#                  speaker's funnel), report.json (the funnel and rejection counts, for scripts)


PARAMS_FILES = [str(p) for p in workflow.configfiles]  # params.yaml and any --configfile: the provenance's hash
# The trainings' curves the page draws: each rule's declared curve, and the video VAE's loss.csv inside its folder.
CURVES = [rules.train_lipsync.output.curve, rules.train_expression.output.curve, rules.train_motion.output.curve,
          rules.train_dualforce.output.curve, rules.train_syncnet_selftrained.output.curve,
          rules.train_microalbert_student.output.curve]


rule report:
    input:
        manifest=MANIFEST,
        ingested=shard_indices("ingest"),
        normalized=shard_indices("normalize"),  # also the thumbnails' frames (video.json → the source)
        faces=shard_indices("faces"),
        crops=shard_indices("crop"),
        measures="data/qc/measures.csv",
        gate_report="data/qc/report",
        dataset_report="data/dataset/report",
        metrics="data/eval/metrics.tsv",
        evaluated=rules.evaluate.input,  # the plots and samples the page shows
        heads=rules.train_gaussians_summary.output.metrics,
        curves=CURVES,
        video_vae=VIDEO_VAE,
    output:
        report(directory("data/report"), htmlindex="index.html", category="Dataset report",
               caption="../report/dataset_report.rst"),
    params:
        cfg=stage_cfg("report"),
        quality=stage_cfg("quality"),
        dataset=stage_cfg("dataset"),
        params_files=" ".join(shlex.quote(p) for p in PARAMS_FILES),
        curves=" ".join(shlex.quote(p) for p in [*CURVES, *(f"{d}/loss.csv" for d in VIDEO_VAE)]),
    log:
        "logs/report/report.log",
    benchmark:
        "logs/benchmarks/report/report.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(4000),
        runtime=minutes(30),
    shell:
        "python -m talkhead.stages.report --data data --manifest {input.manifest:q} --out {output:q}"
        " --params {params.params_files} --curves {params.curves} --cfg {params.cfg:q} --quality-cfg {params.quality:q}"
        " --dataset-cfg {params.dataset:q} 2> {log:q}"
