# A thin wrapper around CMake and ctest. Every target installs what is
# missing first, so `make test` and `make demo` work on a fresh Debian 12.
#   make deps | build | test | demo | bench | asan | tsan | install | clean

BUILD      ?= build
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
CTEST_ARGS ?=
AUTHORITY  ?=

CMAKE_CONFIG = cmake -S . -DTENURE_WERROR=ON $(CMAKE_ARGS)

.PHONY: all deps build test demo bench asan tsan install clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@$(CMAKE_CONFIG) -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) $(CTEST_ARGS)

demo: build
	@BUILD=$(BUILD) AUTHORITY=$(AUTHORITY) scripts/demo.sh

bench: build
	@BUILD=$(BUILD) scripts/bench.sh

# ASan + UBSan: the whole test suite, sanitized.
asan: deps
	@$(CMAKE_CONFIG) -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug -DTENURE_SANITIZE=address,undefined >/dev/null
	@cmake --build $(BUILD)-asan -j $(JOBS)
	ASAN_OPTIONS=detect_stack_use_after_return=0:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(BUILD)-asan --output-on-failure -j $(JOBS) $(CTEST_ARGS)

tsan: deps
	@$(CMAKE_CONFIG) -B $(BUILD)-tsan -DCMAKE_BUILD_TYPE=Debug -DTENURE_SANITIZE=thread >/dev/null
	@cmake --build $(BUILD)-tsan -j $(JOBS)
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp \
	  ctest --test-dir $(BUILD)-tsan --output-on-failure -j $(JOBS) $(CTEST_ARGS)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-tsan
