# Phase export: trained models → deployable graphs.
#   data/export/v3face/   v3face.onnx (V3 Face + the calibrated streaming crisp_mouth, state in/out),
#                         v3face.int8.onnx when the fp32 file exceeds v3face_export.quantize_above_mb,
#                         export.json (calibration, sizes, ONNX-vs-torch difference)
#   data/export/microalbert/  microalbert.onnx (ids + mask → VAD, dynamic batch and length), tokenizer.json,
#                         microalbert.int8.onnx when the fp32 file exceeds microalbert.quantize_above_mb, export.json


rule export_v3face:
    input:
        model="data/models/v3face/expression/best.safetensors",
        metadata="data/dataset/metadata.parquet",
    output:
        directory("data/export/v3face"),
    params:
        cfg=stage_cfg("v3face_export"),
        model=folder_of("model", "input"),
    log:
        "logs/export_v3face/export_v3face.log",
    benchmark:
        "logs/benchmarks/export_v3face/export_v3face.tsv"
    priority: PRIORITY["v3face"]
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(4000),
        runtime=minutes(60),
    shell:
        "python -m talkhead.stages.export_v3face --model {params.model:q} --metadata {input.metadata:q}"
        " --out {output:q} --cfg {params.cfg:q} 2> {log:q}"


rule export_microalbert:
    input:
        model="data/models/microalbert/best.safetensors",
        tokenizer="data/models/microalbert/tokenizer.json",
    output:
        directory("data/export/microalbert"),
    params:
        cfg=stage_cfg("microalbert"),
        model=folder_of("model", "input"),
    log:
        "logs/export_microalbert/export_microalbert.log",
    benchmark:
        "logs/benchmarks/export_microalbert/export_microalbert.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(2000),
        runtime=minutes(30),
    shell:
        "python -m talkhead.stages.export_microalbert --model {params.model:q} --out {output:q} --cfg {params.cfg:q}"
        " 2> {log:q}"


rule export:
    input:
        rules.export_v3face.output,
        rules.export_microalbert.output,
