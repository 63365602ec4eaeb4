# talkhead — the pipeline. Reads params.yaml, validates it, includes one rule file per phase (DAG order).
#
#   snakemake --cores 2 all                           # locally
#   snakemake --profile workflow/profiles/slurm all   # on a SLURM cluster
#
# Output paths, written once (the phase name is also the rule, stage module and params section):
#   data/ingest/{clip}/      raw.<ext> + status.json (size, sha256, manifest window)
#   data/normalize/{clip}/   video.mp4 (CFR) + audio.wav (mono PCM) + probe.json + status.json
#   data/normalize/summary.csv   one row per clip: ok, reasons, frames, sizes
#   logs/<rule>/{clip}.log   logs/benchmarks/<rule>/{clip}.tsv

configfile: "params.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/normalize.smk"


rule all:
    input:
        rules.normalize.input,
    default_target: True
