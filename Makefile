# The two commands a newcomer runs: `make demo` and `make test`.
# Every target does its own set-up; nothing here needs more than the Rust toolchain and the
# package registries.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
WASM_TARGET := wasm32-unknown-unknown
CAPSULES_MANIFEST := capsules/Cargo.toml
CAPSULES_OUT := capsules/target/$(WASM_TARGET)/release
FUZZ_DIR := router/fuzz
# The sandbox's fuzz target, a crate of its own: it links wasmtime, which the decoder targets
# keep out of their build.
FUZZ_MODULES_DIR := router/fuzz-modules
FUZZ_DIRS := $(FUZZ_DIR) $(FUZZ_MODULES_DIR)
# Seconds each fuzz target runs under `make fuzz`.
FUZZ_SECONDS ?= 30

.PHONY: all setup capsules build demo test bench fuzz fuzz-check lint fmt clean doc

all: build

## setup: idempotent; installs the wasm32 target for the pinned toolchain, and tshark (for the
## Wireshark dissector's test) with apt-get when it is missing. Without apt-get, or when the
## install fails, it says so and goes on: the dissector test then skips (without apt-get) or
## asks for ANTS_SKIP_TSHARK=1.
setup:
	@rustup target list --installed | grep -qx '$(WASM_TARGET)' \
		|| rustup target add $(WASM_TARGET)
	@command -v tshark >/dev/null \
		|| { command -v apt-get >/dev/null \
			|| { echo "setup: no apt-get here: tshark not installed, the dissector test will skip" >&2; exit 0; }; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tshark >/dev/null \
			|| { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tshark >/dev/null; } \
			|| echo "setup: tshark could not be installed with apt-get; set ANTS_SKIP_TSHARK=1 to skip the dissector test" >&2; }

## capsules: builds every shipped capsule to $(CAPSULES_OUT)/*.wasm (size-first profile).
## Each is built as a cdylib alone: the crates are also rlibs (host programs use their payload
## types), and cargo skips link-time optimisation for a crate that is also an rlib, which
## costs about 4 KB per module.
CAPSULE_PACKAGES = $(shell sed -n 's/^name = "\(capsule-[a-z0-9-]*\)"/\1/p' capsules/*/Cargo.toml)
capsules: setup
	@for p in $(CAPSULE_PACKAGES); do \
		$(CARGO) rustc --locked --release --target $(WASM_TARGET) \
			--manifest-path $(CAPSULES_MANIFEST) -p $$p --crate-type cdylib || exit 1; \
	done

build: capsules
	$(CARGO) build --locked --workspace --all-targets

## demo: the multicast story on the in-process emulator (no root needed). DEMO_ARGS passes
## options, e.g. `make demo DEMO_ARGS=--json`. The debug profile: the demo runs in under a
## second either way, and `make test` then reuses the build.
DEMO_ARGS ?=
demo: capsules
	$(CARGO) run --locked -p ants-topo --bin ants-topo -- demo $(DEMO_ARGS)

## test: every test of the workspace, after building the capsules the tests load, and the
## smoke test of the sandbox fuzz target (its checks without libFuzzer).
test: build fuzz-check
	$(CARGO) test --locked --workspace --all-targets
	$(CARGO) test --locked --workspace --doc
	$(CARGO) test --locked --manifest-path $(CAPSULES_MANIFEST)
	$(CARGO) test --manifest-path $(FUZZ_MODULES_DIR)/Cargo.toml

## doc: the SDK reference: rustdoc for capsule-sdk with warnings as errors (a broken link fails
## it), then its examples, which are doc tests run on the host.
doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --locked --no-deps -p capsule-sdk
	$(CARGO) test --locked --doc -p capsule-sdk
	@echo "SDK reference: $${CARGO_TARGET_DIR:-$(CURDIR)/target}/doc/capsule_sdk/index.html"

## bench: the benchmark harnesses; results go into docs/benchmarks.md by hand.
bench: capsules
	$(CARGO) bench --locked --workspace

## fuzz-check: the fuzz targets still compile (stable toolchain, no fuzzing).
fuzz-check:
	$(CARGO) check --manifest-path $(FUZZ_DIR)/Cargo.toml --bins
	$(CARGO) check --manifest-path $(FUZZ_MODULES_DIR)/Cargo.toml --bins

## fuzz: runs each fuzz target for FUZZ_SECONDS, starting from the committed seed corpus.
## `--fuzz-dir .`: cargo-fuzz otherwise looks for `fuzz/` beside the enclosing package, which
## finds router/fuzz from inside router/fuzz-modules too.
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) +nightly install cargo-fuzz --locked
	@for d in $(FUZZ_DIRS); do \
		for t in $$(cd $$d && $(CARGO) +nightly fuzz list --fuzz-dir .); do \
			echo "== fuzz $$d $$t for $(FUZZ_SECONDS)s"; \
			mkdir -p $$d/corpus/$$t; \
			(cd $$d && $(CARGO) +nightly fuzz run --fuzz-dir . $$t corpus/$$t seeds/$$t \
				-- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1) || exit 1; \
		done; \
	done

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	$(CARGO) clippy --locked --manifest-path $(CAPSULES_MANIFEST) --target $(WASM_TARGET) -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	$(CARGO) clean --manifest-path $(CAPSULES_MANIFEST)
