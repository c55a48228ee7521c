# The two quick-start commands (see README.md):
#   make run   - install packages, build, and run Strata on its embedded defaults (./data)
#   make test  - install packages, build, and run the whole test suite
# Both are safe to re-run. Builds use ccache and -j2.

PRESET ?= release
BUILD := build/$(PRESET)
STRATA := $(BUILD)/src/cli/strata

.PHONY: setup configure build run test bench clean format

setup:
	@bash scripts/setup.sh
	@bash scripts/rocksdb.sh > /dev/null

configure: setup
	@cmake --preset $(PRESET) > /dev/null

build: configure
	@cmake --build --preset $(PRESET)

run: build
	@bash scripts/run.sh $(STRATA)

# The suite runs twice: on the release build, and on the debug build with ASan + UBSan.
# Then the libFuzzer target over request decoding runs for a bounded time (fuzz preset, clang-16).
test: build
	@cmake --preset debug > /dev/null
	@cmake --build --preset debug
	@cmake --preset fuzz > /dev/null
	@cmake --build --preset fuzz
	@bash scripts/test.sh release debug
	@bash scripts/fuzz.sh

bench: build
	@bash bench/run.sh $(STRATA)

format:
	@git ls-files --cached --others --exclude-standard '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf build
