# Phase train_microalbert: text → valence/arousal/dominance, MicroAlbert distilled from a teacher (docs/microalbert.md).
# Needs no video: it runs beside the pipeline's other phases, on one thread each (with two, its jobs would hold both
# cores of a small machine and stall the video phases behind them).
#   data/microalbert/         targets.csv (corpus rows, split, teacher scores), embeddings.npy, teacher.json
#   data/models/microalbert/  config.json, tokenizer.json, best.safetensors (best val mean r), metrics.csv (a DVC
#                             plot), metrics.json; the undeclared last.safetensors / state.* let a run resume


rule microalbert_targets:
    output:
        targets="data/microalbert/targets.csv",
        teacher="data/microalbert/teacher.json",
    params:
        cfg=stage_cfg("microalbert"),
        out=folder_of("targets"),
    log:
        "logs/microalbert_targets/microalbert_targets.log",
    benchmark:
        "logs/benchmarks/microalbert_targets/microalbert_targets.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(4000),
        runtime=minutes(120),
        gpu=gpus("microalbert"),
    shell:
        "python -m talkhead.stages.train_microalbert --step targets --out {params.out:q} --threads {threads}"
        " --cfg {params.cfg:q} 2> {log:q}"


rule train_microalbert_student:
    input:
        targets="data/microalbert/targets.csv",
        teacher="data/microalbert/teacher.json",
    output:
        model="data/models/microalbert/best.safetensors",
        config="data/models/microalbert/config.json",
        tokenizer="data/models/microalbert/tokenizer.json",
        metrics="data/models/microalbert/metrics.json",
        curve="data/models/microalbert/metrics.csv",
    params:
        cfg=stage_cfg("microalbert"),
        out=folder_of("model"),
    log:
        "logs/train_microalbert_student/train_microalbert_student.log",
    benchmark:
        "logs/benchmarks/train_microalbert_student/train_microalbert_student.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(4000),
        runtime=minutes(240),
        gpu=gpus("microalbert"),
    shell:
        "python -m talkhead.stages.train_microalbert --step train --targets {input.targets:q} --out {params.out:q}"
        " --threads {threads} --cfg {params.cfg:q} 2> {log:q}"


rule train_microalbert:
    input:
        rules.train_microalbert_student.output,
