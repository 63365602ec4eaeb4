# Phase train_syncnet: the self-trained SyncNet-style lip-sync scorer (sync_c_selftrained / sync_d_selftrained).
#   data/models/syncnet/   config.json, model.safetensors, loss.csv (a DVC plot), loss.png, metrics.json
#                          (held-out self-check: Sync-C in sync, offset found for a known audio delay)


rule train_syncnet_selftrained:
    input:
        "data/dataset/metadata.parquet",
    output:
        model="data/models/syncnet/model.safetensors",
        config="data/models/syncnet/config.json",
        curve="data/models/syncnet/loss.csv",
        metrics="data/models/syncnet/metrics.json",
    params:
        cfg=stage_cfg("syncnet"),
        out=folder_of("model"),
    log:
        "logs/train_syncnet_selftrained/train_syncnet_selftrained.log",
    benchmark:
        "logs/benchmarks/train_syncnet_selftrained/train_syncnet_selftrained.tsv"
    threads: 1
    conda:
        ENV
    resources:
        mem_mb=scaled(4000),
        runtime=minutes(60),
    shell:
        "python -m talkhead.stages.train_syncnet --metadata {input:q} --out {params.out:q} --cfg {params.cfg:q}"
        " 2> {log:q}"


rule train_syncnet:
    input:
        rules.train_syncnet_selftrained.output,
