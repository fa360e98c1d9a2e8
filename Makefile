# Thin wrapper around CMake. `make test` and `make demo` set up a fresh
# Debian 12 machine by themselves (scripts/install-deps.sh).
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
# ASan: leaks are checked; UBSan: any report fails the test.
export ASAN_OPTIONS  ?= detect_leaks=1:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1

.PHONY: all deps build build-asan test test-unit demo bench clean

all: build

deps:
	@scripts/install-deps.sh --check 2>/dev/null || scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DSKIFF_SANITIZE=ON

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

build-asan: $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# Every test, on the gcc build and again on the clang ASan+UBSan build.
test: deps
	$(MAKE) build build-asan
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)
	ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

test-unit: build
	ctest --test-dir $(BUILD) --output-on-failure -L unit

# DEMO_ARGS: options of `skiff demo`, e.g. DEMO_ARGS=--keep-running
demo: deps
	$(MAKE) build
	scripts/demo.sh $(BUILD)/skiff $(DEMO_ARGS)

bench: deps
	$(MAKE) build
	bench/run.sh $(BUILD)/skiff

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
