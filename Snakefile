# talkhead — the pipeline. Reads params.yaml, validates it, includes one rule file per phase (DAG order).
#
#   snakemake --cores 2 all                           # locally
#   snakemake --profile workflow/profiles/slurm all   # on a SLURM cluster
#
# Output paths, written once (the phase name is also the rule, stage module and params section):
#   data/ingest/{clip}/      raw.<ext> + status.json (size, sha256, manifest window)
#   data/normalize/{clip}/   video.json (CFR plan of the source) + audio.wav (mono PCM) + probe.json + status.json
#   data/normalize/summary.csv   one row per clip: ok, reasons, frames, sizes
#   data/faces/{clip}/       track.parquet (per-frame box) + faces.json (face stats, scene cuts)
#   data/crop/{clip}/        crop.mp4 (stable square crop) + landmarks.npz (478-point mesh) + crop.json
#   data/quality/{clip}/     quality.json (measures, verdict, reasons) + audio.wav (A/V-aligned)
#   data/av_corpus/          offsets.csv, summary.json: the second A/V pass (a sync model fitted on the accepted clips)
#   data/qc/                 accepted.csv, rejected.csv, measures.csv, segments.csv, report/ (validation HTML)
#   data/features/{clip}/    <modality>.safetensors, one per extractor (docs/features.md)
#   data/dataset/clips/{clip}.safetensors   every modality packed; data/dataset/metadata.parquet (splits)
#   data/models/v3face/{lipsync,expression}/   V3 Face, two training phases (config, weights, metrics)
#   data/models/syncnet/     the self-trained lip-sync scorer (sync_c_selftrained)
#   data/models/motion_dit/  the MoDA-style motion DiT (audio → 70-d motion; talkhead generate)
#   data/models/dualforce/   DualForce: video + structure DiTs, diffusion forcing (reference + audio → video)
#   data/models/gaussians/{speaker}/  per-identity 3D-Gaussian heads (talkhead generate --model-kind gaussians)
#   data/microalbert/        the text corpus scored by MicroAlbert's teacher (targets.csv, teacher.json)
#   data/models/microalbert/ MicroAlbert: text → valence/arousal/dominance (talkhead vad, --emotion auto)
#   data/export/v3face/      v3face.onnx (+ int8), export.json
#   data/export/microalbert/ microalbert.onnx (+ int8 when large), tokenizer.json, export.json
#   data/eval/v3face/        metrics.json (val L1 vs baselines, DVC metrics), tracks.csv, plots/
#   data/eval/motion_dit/    metrics.json (val L1, mouth-speech r, LMD, Sync-C/D vs baselines), tracks.csv, plots/
#   data/eval/dualforce/     metrics.json (fidelity, LMD, sync, drift at 32…512 frames), consistency.csv, plots/, samples/
#   data/eval/microalbert/   metrics.json (r and MAE vs the teacher, constant baseline, latency), probes.csv
#   data/report/             index.html: the dataset report, one offline page (funnel, rejections, plots, models)
#   logs/<rule>/{clip}.log   logs/benchmarks/<rule>/{clip}.tsv

configfile: "params.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/normalize.smk"
include: "workflow/rules/faces.smk"
include: "workflow/rules/crop.smk"
include: "workflow/rules/quality.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/dataset.smk"
include: "workflow/rules/train_v3face.smk"
include: "workflow/rules/train_syncnet.smk"
include: "workflow/rules/train_motion_dit.smk"
include: "workflow/rules/train_dualforce.smk"
include: "workflow/rules/train_gaussians.smk"
include: "workflow/rules/train_microalbert.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        rules.normalize.input,
        "data/qc/accepted.csv",
        rules.features.input,
        "data/dataset/metadata.parquet",
        rules.train_v3face.input,
        rules.train_syncnet.input,
        rules.train_motion_dit.input,
        rules.train_dualforce.output,
        rules.train_gaussians.input,
        rules.train_microalbert.input,
        rules.export.input,
        rules.evaluate.input,
        rules.report.output,
    default_target: True
