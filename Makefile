# The README's two commands. Both install what is missing first (Debian 12, as root).
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=

FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 300
FUZZ_TARGETS := header plan agent_message

.PHONY: all deps build test demo fuzz bench clean format

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j$(JOBS)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 900
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=30

# Benchmarks in Release: figures and ratios against baselines measured in the same run, with
# the machine's description, written to docs/benchmarks.md (BENCH_ARGS go to the script).
BENCH_BUILD ?= build-release
bench: deps
	@cmake -S . -B $(BENCH_BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BENCH_BUILD) -j$(JOBS) --target closure_bench ingest_bench footprint_bench scale_bench
	@bash scripts/bench.sh $(BENCH_BUILD) docs/benchmarks.md $(BENCH_ARGS)

# libFuzzer (clang + ASan) on the test header, plans and agent messages: each target runs
# FUZZ_SECONDS from fuzz/corpus/<target> (plus what earlier runs found, kept in FUZZ_BUILD).
# A crash, leak or timeout fails with the reproducer's path.
fuzz: deps
	@CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -DRSTMESH_FUZZ=ON \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS) --target $(FUZZ_TARGETS:%=%_fuzz)
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/crashes; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  if ! $(FUZZ_BUILD)/fuzz/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	      -rss_limit_mb=4096 -print_final_stats=1 \
	      -artifact_prefix=$(FUZZ_BUILD)/crashes/$$t- \
	      $(FUZZ_BUILD)/corpus/$$t fuzz/corpus/$$t > $(FUZZ_BUILD)/$$t.log 2>&1; then \
	    tail -n 40 $(FUZZ_BUILD)/$$t.log; echo "fuzz: $$t FAILED"; exit 1; \
	  fi; \
	  grep -E '^(Done|stat::(number_of_executed_units|new_units_added|peak_rss_mb))' \
	    $(FUZZ_BUILD)/$$t.log | sed 's/^/  /'; \
	done

demo: build
	@$(BUILD)/cli/rstmeshctl demo

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	@rm -rf $(BUILD) $(BENCH_BUILD)
