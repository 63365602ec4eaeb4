# talkhead — set-up and the two everyday commands. Everything runs inside ./.venv.
#   make demo   venv + install, demo data, the whole pipeline on it
#   make test   venv + install, the test suite (what .ci/run calls)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
CORES  ?= 2
BIN    := $(abspath $(VENV))/bin
STAMP  := $(VENV)/.installed
export PATH := $(BIN):$(PATH)
export PYTHONUNBUFFERED := 1

.PHONY: install demo test test-all lint lock clean docs-numbers

install: $(STAMP)

# The stamp holds the lock last installed: sync_venv.py removes what a newer lock dropped (pip never does),
# so pip check stays clean after a pull; what the user added beside the lock (gsplat, a CUDA torch) stays.
# Byte-compiling: pip compiles file by file on one core (~100 s of a ~230 s install); compileall
# uses every core. As in pip's own step, a file that does not compile for this Python (torch ships
# 3.12-only test helpers) is skipped, hence the `|| true`.
$(STAMP): pyproject.toml requirements/lock.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python requirements/sync_venv.py --previous $(STAMP)
	$(BIN)/python -m pip install -qq --no-compile --requirement requirements/lock.txt
	$(BIN)/python -m pip install -qq --no-compile --no-deps --editable .
	$(BIN)/python -m compileall -qq -j 0 $$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') || true
	$(BIN)/python -m pip check
	cp requirements/lock.txt $(STAMP)

data/demo/manifest.csv: | $(STAMP)
	$(BIN)/talkhead demo-data --out data/demo --params params.yaml

# Snakemake runs the graph (both cores, its own job order); `dvc commit` then records every stage's
# deps, params and outputs in dvc.lock and the cache, so `dvc status` is clean and `dvc repro` a no-op
# (running the phases through `dvc repro` would run them one after another). dvc.lock is not
# committed: model weights differ across CPUs in the last digits.
demo: $(STAMP) data/demo/manifest.csv
	$(BIN)/snakemake --profile workflow/profiles/default --cores $(CORES) all
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then echo "dvc commit --force"; $(BIN)/dvc commit --force --quiet; \
	else echo "Not a git checkout, so DVC cannot record the run (after git init: dvc commit --force)."; fi
	@echo
	@echo "Pipeline finished. Start here: data/report/index.html (the dataset report; opens offline in any browser)."
	@echo "Outputs:"
	@echo "  data/ingest/<clip>/      fetched sources with sha256 (status.json)"
	@echo "  data/normalize/<clip>/   video.json (25 fps plan of the source), 16 kHz audio.wav, probe.json"
	@echo "  data/faces/<clip>/       face track (track.parquet), face statistics, scene cuts"
	@echo "  data/crop/<clip>/        crop.mp4 (stable 512 px face crop), landmarks.npz (478-point mesh)"
	@echo "  data/quality/<clip>/     quality.json (measures, verdict, reasons), A/V-aligned audio.wav"
	@echo "  data/av_corpus/          the second A/V pass (runs once the corpus is large enough; summary.json says)"
	@echo "  data/qc/accepted.csv     clips that passed the gate; data/qc/rejected.csv: the rest, with reasons"
	@echo "  data/qc/report/index.html    the validation report (Great Expectations Data Docs)"
	@echo "  data/features/<clip>/    <modality>.safetensors: audio_mel, face_mesh, head_pose, motion, face3dmm,"
	@echo "                           blendshapes, video_latents (docs/features.md)"
	@echo "  data/models/             face3dmm_basis/, video_vae/ (learned on the training split; loss.csv)"
	@echo "  data/dataset/            clips/<clip>.safetensors (every modality packed), metadata.parquet (splits),"
	@echo "                           motion_stats.safetensors, report/index.html (feature validation)"
	@echo "  data/models/v3face/      V3 Face: lipsync/ and expression/ (weights, metrics.json, metrics.csv)"
	@echo "  data/models/syncnet/     the self-trained lip-sync scorer (sync_c_selftrained)"
	@echo "  data/models/motion_dit/  the MoDA-style motion DiT: try"
	@echo "                           talkhead generate --image face.jpg --text \"Hello\" --out talk.mp4"
	@echo "  data/models/dualforce/   DualForce (video + structure DiT, diffusion forcing; metrics.json with the initial loss)"
	@echo "  data/models/gaussians/   <speaker>/ a 3D-Gaussian head (held-out PSNR/SSIM/LMD): try talkhead generate"
	@echo "                           --model-kind gaussians --model data/models/gaussians/<speaker> --text \"Hi\" --out g.mp4"
	@echo "  data/models/microalbert/ MicroAlbert, text -> valence/arousal/dominance: try talkhead vad --text \"We won!\""
	@echo "  data/export/v3face/      v3face.onnx (streaming, with crisp_mouth), export.json"
	@echo "  data/eval/v3face/        metrics.json (val L1 vs the mean-pose and silent-audio baselines), plots/tracks.png"
	@echo "  data/eval/motion_dit/    metrics.json (motion L1, mouth-speech r, LMD, Sync-C vs baselines), plots/mouth.png"
	@echo "  data/eval/dualforce/     metrics.json (latent/structure L1, LMD, drift at 32..512 frames), samples/*.mp4"
	@echo "  data/eval/microalbert/   metrics.json (r and MAE vs its teacher, constant baseline), latency.json"
	@echo "  data/eval/metrics.tsv    every model's numbers in one table; snakemake --report report.zip: it, the plots, a sample"
	@echo "  data/report/index.html   the dataset report: funnel, rejections with thumbnails, distributions, validation,"
	@echo "                           model metrics and curves, provenance (docs/report.md)"
	@echo "  logs/                    one log per rule and shard"
	@echo "  dvc.lock                 every stage recorded: dvc status is clean, dvc push stores data and models (README: DVC)"

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

test-all: $(STAMP)
	$(BIN)/python -m pytest -m "slow or not slow"

# After make demo: the demo's metrics into benchmarks/results/demo_eval.json, then every generated docs table.
docs-numbers: $(STAMP)
	$(BIN)/python benchmarks/demo_eval.py
	$(BIN)/python benchmarks/docs_numbers.py

lint: $(STAMP) data/demo/manifest.csv
	$(BIN)/snakemake --lint
	$(BIN)/snakemake -n --quiet rules

lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^talkhead' | sed 's/+cpu$$//' > requirements/lock.new
	@echo "review requirements/lock.new, then move it over requirements/lock.txt"

clean:
	rm -rf data/ingest data/normalize data/faces data/crop data/quality data/av_corpus data/qc data/features data/models data/dataset data/export data/eval logs .snakemake
